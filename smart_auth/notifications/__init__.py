"""State tables of the notifications (``notifications`` package above the surfaces): they sit
here so that the one state ``metadata`` and its migrations know every table."""
