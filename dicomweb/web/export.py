"""DICOMweb export routes (to come)."""
