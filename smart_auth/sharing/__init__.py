"""Patient-granted sharing with partner clinics, served as FHIR Consent (acceptance point 13).

``consented_patients(engine, client_id)`` is what a partner's backend-services grant is
narrowed to; ``init_app`` serves ``/fhir/Consent`` from the state database.
"""

from __future__ import annotations

from .service import consented_patients

__all__ = ["consented_patients"]
