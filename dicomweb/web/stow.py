"""DICOMweb stow routes (to come)."""
