"""Patients' uploads (F17): files a patient or guardian brings, as Binary and DocumentReference.

``storage`` keeps the bytes (a directory every worker sees), ``detect`` decides the type from
the bytes, ``service`` holds the rules (quota, crash safety, the HIS hand-off, who may change
what) and answers other parts' questions ("the uploads of patient P", "is this P's upload");
``routes`` serves them under ``/fhir`` and ``mhd`` the IHE MHD ITI-65 transaction.
"""
