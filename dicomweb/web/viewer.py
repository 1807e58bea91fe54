"""DICOMweb viewer routes (to come)."""
