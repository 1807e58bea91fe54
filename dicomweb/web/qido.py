"""DICOMweb qido routes (to come)."""
