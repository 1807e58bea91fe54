"""DICOMweb in front of the hospital's PACS (PS3.18), and the PACS side behind it.

``dicomweb.backends``: the PacsBackend protocol and its DIMSE implementation (C-FIND, C-GET,
C-MOVE, C-STORE with pynetdicom); ``dicomweb.synthetic`` and ``dicomweb.his_studies``: demo and
test studies; ``dicomweb.orthanc`` and ``dicomweb.cli``: the project's own Orthanc.
"""
