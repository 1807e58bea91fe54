"""DICOMweb wado routes (to come)."""
