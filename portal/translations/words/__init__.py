"""The portal's words, one module per screen (see ``portal.translations.catalogs``)."""
