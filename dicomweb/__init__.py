"""DICOMweb in front of the hospital's PACS (PS3.18), and the PACS side behind it.

``dicomweb.backends``: the PacsBackend protocol and its DIMSE implementation (C-FIND, C-GET,
C-MOVE, C-STORE with pynetdicom); ``demo.synthetic`` and ``demo.his_studies``: demo and
test studies; ``demo.orthanc`` and ``demo.cli_pacs``: the project's own Orthanc.
"""
