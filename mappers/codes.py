"""Code tables: every code system the mappers emit, and every HIS code they translate.

One module on purpose (ARCHITECTURE boundary 2): a reviewer checks terminology here and only
here. Standard codes are included only where the HIS meaning and the standard concept agree;
every HIS code also travels as a *local* coding (``{local_codes}/<table>``, see
``mappers.concepts``), so nothing is lost when no standard code fits.

Sources:

* v2 tables and v3 code systems: http://terminology.hl7.org/ (R4 binds them as listed in each
  resource page, e.g. http://hl7.org/fhir/R4/encounter.html for the v3 ActCode classes);
* LOINC (https://loinc.org) long common names as displays;
* SNOMED CT practice-setting codes from http://hl7.org/fhir/R4/valueset-c80-practice-codes.html;
* DICOM modalities: PS3.16 CID 29 (http://hl7.org/fhir/R4/valueset-modality.html);
* UCUM (https://ucum.org/ucum): the lab's unit string is used as the UCUM code after the
  spelling fixes in ``UCUM_ALIASES``.

Everything built here is built once at import time and shared by every resource the mappers
return: treat mapper output as read-only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

Json = dict[str, Any]

# --- Code system URIs ---------------------------------------------------------------------------

LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
UCUM: Final = "http://unitsofmeasure.org"
DCM: Final = "http://dicom.nema.org/resources/ontology/DCM"
#: DICOM UIDs as identifiers: value "urn:oid:<uid>" (as HL7's R4 ImagingStudy example does).
DICOM_UID: Final = "urn:dicom:uid"
_THO = "http://terminology.hl7.org/CodeSystem"
V2_0074: Final = f"{_THO}/v2-0074"
V2_0203: Final = f"{_THO}/v2-0203"
V3_ACT_CODE: Final = f"{_THO}/v3-ActCode"
V3_ROLE_CODE: Final = f"{_THO}/v3-RoleCode"
V3_PARTICIPATION_TYPE: Final = f"{_THO}/v3-ParticipationType"
V3_INTERPRETATION: Final = f"{_THO}/v3-ObservationInterpretation"
OBSERVATION_CATEGORY: Final = f"{_THO}/observation-category"
ORGANIZATION_TYPE: Final = f"{_THO}/organization-type"
LOCATION_PHYSICAL_TYPE: Final = f"{_THO}/location-physical-type"
DATA_ABSENT_REASON: Final = f"{_THO}/data-absent-reason"
PRACTITIONER_ROLE: Final = f"{_THO}/practitioner-role"
V2_0276: Final = f"{_THO}/v2-0276"
#: Identifier.system of values that are URIs themselves (http://hl7.org/fhir/R4/identifier-registry.html).
URN_SYSTEM: Final = "urn:ietf:rfc:3986"
DICOM_DCM: Final = DCM
#: The standard system of Slot/Appointment.appointmentType codes: ROUTINE (in-person); video
#: visits carry v3 ActCode VR + a local VIDEO code instead (``LocalCodes.video_visit``).
APPOINTMENT_TYPE: Final = V2_0276

# FHIR code systems of status and gender codes (for token searches that name a system).
_FHIR = "http://hl7.org/fhir"
ADMINISTRATIVE_GENDER: Final = f"{_FHIR}/administrative-gender"
ENCOUNTER_STATUS: Final = f"{_FHIR}/encounter-status"
OBSERVATION_STATUS: Final = f"{_FHIR}/observation-status"
DIAGNOSTIC_REPORT_STATUS: Final = f"{_FHIR}/diagnostic-report-status"
IMAGING_STUDY_STATUS: Final = f"{_FHIR}/imagingstudy-status"
DOCUMENT_REFERENCE_STATUS: Final = f"{_FHIR}/document-reference-status"
SLOT_STATUS: Final = f"{_FHIR}/slotstatus"
APPOINTMENT_STATUS: Final = f"{_FHIR}/appointmentstatus"
PUBLICATION_STATUS: Final = f"{_FHIR}/publication-status"
QUESTIONNAIRE_RESPONSE_STATUS: Final = f"{_FHIR}/questionnaire-answers-status"


def coding(system: str, code: str, display: str | None = None) -> Json:
    """A Coding (http://hl7.org/fhir/R4/datatypes.html#Coding)."""
    out: Json = {"system": system, "code": code}
    if display is not None:
        out["display"] = display
    return out


def concept(*codings: Json, text: str | None = None) -> Json:
    """A CodeableConcept (http://hl7.org/fhir/R4/datatypes.html#CodeableConcept)."""
    out: Json = {"coding": list(codings)}
    if text is not None:
        out["text"] = text
    return out


# --- Required bindings: HIS code -> FHIR code ---------------------------------------------------
# (The connector inverts these tables to translate status searches back to HIS codes.)

GENDER: Final = {"M": "male", "F": "female", "U": "unknown"}
#: http://hl7.org/fhir/R4/valueset-encounter-status.html
EPISODE_STATUS: Final = {
    "planned": "planned",
    "open": "in-progress",
    "closed": "finished",
    "cancelled": "cancelled",
}
#: http://hl7.org/fhir/R4/valueset-diagnostic-report-status.html
BULLETIN_STATUS: Final = {
    "registered": "registered",
    "partial": "partial",
    "validated": "final",
    "cancelled": "cancelled",
}
PARACLINICAL_STATUS: Final = {
    "registered": "registered",
    "validated": "final",
    "cancelled": "cancelled",
}
#: imaging_order.status -> DiagnosticReport.status of its report (only rows with reported_at).
IMAGING_REPORT_STATUS: Final = {"reported": "final", "cancelled": "cancelled"}
IMAGING_REPORT_STATUS_OTHERWISE: Final = "preliminary"
#: imaging_order.status -> ImagingStudy.status (http://hl7.org/fhir/R4/valueset-imagingstudy-status.html)
ORDER_STUDY_STATUS: Final = {
    "ordered": "registered",
    "scheduled": "registered",
    "performed": "available",
    "reported": "available",
    "cancelled": "cancelled",
}
#: http://hl7.org/fhir/R4/valueset-slotstatus.html
SLOT_STATUS_MAP: Final = {"free": "free", "busy": "busy", "blocked": "busy-unavailable"}
#: http://hl7.org/fhir/R4/valueset-appointmentstatus.html
APPOINTMENT_STATUS_MAP: Final = {
    "requested": "proposed",
    "booked": "booked",
    "arrived": "arrived",
    "done": "fulfilled",
    "cancelled": "cancelled",
    "no-show": "noshow",
}
#: http://hl7.org/fhir/R4/valueset-questionnaire-answers-status.html
ASSIGNMENT_STATUS: Final = {
    "sent": "in-progress",
    "in-progress": "in-progress",
    "submitted": "completed",
}
#: HIS questionnaire item types are FHIR's own names (http://hl7.org/fhir/R4/valueset-item-type.html);
#: value: the QuestionnaireResponse answer element, None for items that take no answer.
QUESTIONNAIRE_ITEM_TYPES: Final[dict[str, str | None]] = {
    "display": None,
    "string": "valueString",
    "text": "valueString",
    "boolean": "valueBoolean",
    "integer": "valueInteger",
    "decimal": "valueDecimal",
    "date": "valueDate",
    "dateTime": "valueDateTime",
    "choice": "valueCoding",
    "attachment": "valueAttachment",
}
#: Questionnaire.item.enableWhen.operator (http://hl7.org/fhir/R4/valueset-questionnaire-enable-operator.html).
ENABLE_OPERATORS: Final = ("exists", "=", "!=", ">", "<", ">=", "<=")
#: Questionnaire.item.enableWhen.answer[x] by the type of the item it looks at.
ENABLE_ANSWER_TYPES: Final[dict[str, str]] = {
    "string": "answerString",
    "text": "answerString",
    "boolean": "answerBoolean",
    "integer": "answerInteger",
    "decimal": "answerDecimal",
    "date": "answerDate",
    "dateTime": "answerDateTime",
    "choice": "answerCoding",
}

# --- Identifier types (v2-0203) -----------------------------------------------------------------

NATIONAL_ID_TYPE: Final = concept(coding(V2_0203, "NI", "National unique individual identifier"))
MRN_TYPE: Final = concept(coding(V2_0203, "MR", "Medical record number"))
#: Romanian "cod parafă" / Polish "numer PWZ": the right to practise, i.e. a licence number.
LICENSE_TYPE: Final = concept(coding(V2_0203, "MD", "Medical License number"))
ACCESSION_TYPE: Final = concept(coding(V2_0203, "ACSN", "Accession ID"))

# --- Encounter (http://hl7.org/fhir/R4/encounter.html) ------------------------------------------

#: episode.kind -> (English display of the local code, v3 ActCode class, SNOMED CT type or None).
#: CONS is a consultation given to an admitted patient: an inpatient encounter (IMP), linked to
#: its admission through Encounter.partOf; DAY is a day hospitalisation: "short stay" (SS).
EPISODE_KINDS: Final[dict[str, tuple[str, Json, tuple[str, str] | None]]] = {
    "AMB": ("Ambulatory episode", coding(V3_ACT_CODE, "AMB", "ambulatory"), None),
    "DAY": ("Day hospitalisation", coding(V3_ACT_CODE, "SS", "short stay"), None),
    "HOSP": (
        "Continuous hospitalisation",
        coding(V3_ACT_CODE, "IMP", "inpatient encounter"),
        ("32485007", "Hospital admission"),
    ),
    "CONS": (
        "Consultation during an admission",
        coding(V3_ACT_CODE, "IMP", "inpatient encounter"),
        ("11429006", "Consultation"),
    ),
}
#: episode.kind -> Encounter.class code.
EPISODE_CLASS: Final = {kind: cls["code"] for kind, (_d, cls, _s) in EPISODE_KINDS.items()}
ATTENDER: Final = [concept(coding(V3_PARTICIPATION_TYPE, "ATND", "attender"))]
#: v3 ActCode VR: "a clinical encounter where the patient and the practitioner are not in the
#: same physical location": the standard code closest to a video consultation.
VIRTUAL: Final = coding(V3_ACT_CODE, "VR", "virtual")
#: appointmentType of in-person slots and appointments (v2-0276: "default if not valued").
ROUTINE_VISIT: Final = concept(
    coding(V2_0276, "ROUTINE", "Routine appointment - default if not valued"),
    text="Routine appointment",
)

# --- Organisation -------------------------------------------------------------------------------

#: department.kind -> (English display, organization-type, v3 RoleCode location type or None,
#: location-physical-type).
DEPARTMENT_KINDS: Final[dict[str, tuple[str, Json, Json | None, Json]]] = {
    "hospital": (
        "Hospital",
        coding(ORGANIZATION_TYPE, "prov", "Healthcare Provider"),
        coding(V3_ROLE_CODE, "HOSP", "Hospital"),
        coding(LOCATION_PHYSICAL_TYPE, "bu", "Building"),
    ),
    "clinic": (
        "Outpatient clinic",
        coding(ORGANIZATION_TYPE, "dept", "Hospital Department"),
        coding(V3_ROLE_CODE, "OF", "Outpatient facility"),
        coding(LOCATION_PHYSICAL_TYPE, "wi", "Wing"),
    ),
    "ward": (
        "Ward",
        coding(ORGANIZATION_TYPE, "dept", "Hospital Department"),
        coding(V3_ROLE_CODE, "HU", "Hospital unit"),
        coding(LOCATION_PHYSICAL_TYPE, "wa", "Ward"),
    ),
    "laboratory": (
        "Laboratory",
        coding(ORGANIZATION_TYPE, "dept", "Hospital Department"),
        coding(V3_ROLE_CODE, "HLAB", "hospital laboratory"),
        coding(LOCATION_PHYSICAL_TYPE, "wi", "Wing"),
    ),
    "imaging": (
        "Medical imaging",
        coding(ORGANIZATION_TYPE, "dept", "Hospital Department"),
        coding(V3_ROLE_CODE, "HRAD", "radiology unit"),
        coding(LOCATION_PHYSICAL_TYPE, "wi", "Wing"),
    ),
    "functional": (
        "Functional diagnostics",
        coding(ORGANIZATION_TYPE, "dept", "Hospital Department"),
        None,
        coding(LOCATION_PHYSICAL_TYPE, "wi", "Wing"),
    ),
}

#: department.kind -> organization-type code.
DEPARTMENT_ORG_TYPE: Final = {
    kind: org["code"] for kind, (_d, org, _l, _p) in DEPARTMENT_KINDS.items()
}

#: specialty.code -> SNOMED CT practice setting (c80-practice-codes). The HIS's specialty codes
#: are deployment data (these are the default HIS's): extend the table for another HIS.
SPECIALTY_SNOMED: Final[dict[str, tuple[str, str]]] = {
    "anaesthesiology": ("394577000", "Anesthetics"),
    "cardiology": ("394579002", "Cardiology"),
    "dermatology": ("394582007", "Dermatology"),
    "endocrinology": ("394583002", "Endocrinology"),
    "gastroenterology": ("394584008", "Gastroenterology"),
    "obstetrics_gynaecology": ("394585009", "Obstetrics and gynecology"),
    "psychiatry": ("394587001", "Psychiatry"),
    "nephrology": ("394589003", "Nephrology"),
    "neurology": ("394591006", "Neurology"),
    "radiation_oncology": ("394592004", "Clinical oncology"),
    "oncology": ("394593009", "Medical oncology"),
    "ophthalmology": ("394594003", "Ophthalmology"),
    "general_surgery": ("394609007", "General surgery"),
    "neurosurgery": ("394610002", "Neurosurgery"),
    "urology": ("394612005", "Urology"),
    "paediatrics": ("394537008", "Pediatric specialty"),
    "orthopaedics": ("394801008", "Trauma and orthopedics"),
    "haematology": ("394803006", "Clinical hematology"),
    "infectious_diseases": ("394807007", "Infectious diseases"),
    "rheumatology": ("394810000", "Rheumatology"),
    "geriatrics": ("394811001", "Geriatric medicine"),
    "radiology": ("394914008", "Radiology"),
    "general_practice": ("408443003", "General medical practice"),
    "pulmonology": ("418112009", "Pulmonary medicine"),
    "otorhinolaryngology": ("418960008", "Otolaryngology"),
    "internal_medicine": ("419192003", "Internal medicine"),
}

#: http://hl7.org/fhir/R4/valueset-practitioner-role.html
DOCTOR_ROLE: Final = [concept(coding(PRACTITIONER_ROLE, "doctor", "Doctor"))]

#: guardian_link.relationship -> v3 RoleCode (http://hl7.org/fhir/R4/valueset-relatedperson-relationshiptype.html)
GUARDIAN_RELATIONSHIP: Final = {
    "MTH": concept(coding(V3_ROLE_CODE, "MTH", "mother")),
    "FTH": concept(coding(V3_ROLE_CODE, "FTH", "father")),
    "GUARD": concept(coding(V3_ROLE_CODE, "GUARD", "guardian")),
}

# --- Diagnostics --------------------------------------------------------------------------------

LAB_CATEGORY: Final = [concept(coding(OBSERVATION_CATEGORY, "laboratory", "Laboratory"))]
#: http://hl7.org/fhir/R4/v2/0074/index.html (DiagnosticReport.category)
SECTION_LAB: Final = [concept(coding(V2_0074, "LAB", "Laboratory"))]
SECTION_RAD: Final = [concept(coding(V2_0074, "RAD", "Radiology"))]
LAB_REPORT_LOINC: Final = "11502-2"
LAB_REPORT_CODE: Final = concept(
    coding(LOINC, LAB_REPORT_LOINC, "Laboratory report"), text="Laboratory report"
)
IMAGING_REPORT_LOINC: Final = "18748-4"
IMAGING_REPORT_CODING: Final = coding(LOINC, IMAGING_REPORT_LOINC, "Diagnostic imaging study")

_EC = concept(coding(V2_0074, "EC", "Electrocardiac (e.g., EKG, EEC, Holter)"))
_EN = concept(coding(V2_0074, "EN", "Electroneuro (EEG, EMG,EP,PSG)"))
#: paraclinical_test.kind -> (English display, v2-0074 section, LOINC study code or None).
PARACLINICAL_KINDS: Final[dict[str, tuple[str, Json, tuple[str, str] | None]]] = {
    "ECG": ("Electrocardiogram", _EC, ("11524-6", "EKG study")),
    "HOLTER": ("Holter monitoring", _EC, None),
    "EEG": ("Electroencephalogram", _EN, ("11523-8", "EEG study")),
    "EMG": ("Electromyography", _EN, None),
    "SPIRO": ("Spirometry", concept(coding(V2_0074, "PF", "Pulmonary Function")), None),
    "AUDIO": ("Audiometry", concept(coding(V2_0074, "AU", "Audiology")), None),
    "ECHO": ("Echocardiography", concept(coding(V2_0074, "CUS", "Cardiac Ultrasound")), None),
}
#: paraclinical_test.kind -> v2-0074 section code, and -> LOINC (code, display) where known.
PARACLINICAL_SECTION: Final = {
    kind: section["coding"][0]["code"] for kind, (_d, section, _l) in PARACLINICAL_KINDS.items()
}
PARACLINICAL_LOINC: Final = {
    kind: loinc for kind, (_d, _s, loinc) in PARACLINICAL_KINDS.items() if loinc
}

#: imaging_order.procedure -> English display (local code system only).
IMAGING_PROCEDURES: Final = {
    "BIOPSY": "Image-guided biopsy",
    "INTERVENTION": "Interventional radiology procedure",
}
#: DICOM PS3.16 CID 29 acquisition modalities (code -> display); other codes pass through.
DICOM_MODALITIES: Final = {
    "BMD": "Bone Mineral Densitometry",
    "CR": "Computed Radiography",
    "CT": "Computed Tomography",
    "DX": "Digital Radiography",
    "ECG": "Electrocardiography",
    "ES": "Endoscopy",
    "IO": "Intra-oral Radiography",
    "MG": "Mammography",
    "MR": "Magnetic Resonance",
    "NM": "Nuclear Medicine",
    "OP": "Ophthalmic Photography",
    "PT": "Positron emission tomography",
    "PX": "Panoramic X-Ray",
    "RF": "Radio Fluoroscopy",
    "SM": "Slide Microscopy",
    "US": "Ultrasound",
    "XA": "X-Ray Angiography",
    "XC": "External-camera Photography",
}

#: lab_result.flag -> v3 ObservationInterpretation (http://hl7.org/fhir/R4/valueset-observation-interpretation.html)
INTERPRETATION: Final = {
    flag: [concept(coding(V3_INTERPRETATION, flag, display))]
    for flag, display in (
        ("N", "Normal"),
        ("L", "Low"),
        ("H", "High"),
        ("LL", "Critical low"),
        ("HH", "Critical high"),
        ("A", "Abnormal"),
    )
}
#: Observation.dataAbsentReason when a result has no value at all.
NO_VALUE: Final = concept(coding(DATA_ABSENT_REASON, "unknown", "Unknown"))
NOT_PERFORMED: Final = concept(coding(DATA_ABSENT_REASON, "not-performed", "Not Performed"))

# --- Documents (http://hl7.org/fhir/R4/documentreference.html) ----------------------------------

#: document.kind -> (English display, LOINC document type or None). Certificates, paraclinical
#: reports and "other" have no LOINC code that is right for every document of the kind.
DOCUMENT_KINDS: Final[dict[str, tuple[str, tuple[str, str] | None]]] = {
    "DISCHARGE": ("Discharge letter", ("18842-5", "Discharge summary")),
    "LAB_REPORT": ("Laboratory report", ("11502-2", "Laboratory report")),
    "PARACLINICAL": ("Functional test report", None),
    "IMAGING_REPORT": ("Imaging report", ("18748-4", "Diagnostic imaging study")),
    "PRESCRIPTION": ("Prescription", ("57833-6", "Prescription for medication")),
    "CERTIFICATE": ("Medical certificate", None),
    "REFERRAL": ("Referral", ("57133-1", "Referral note")),
    "OTHER": ("Other document", None),
}
#: document.kind -> LOINC (code, display), for the kinds that have one.
DOCUMENT_KIND_LOINC: Final = {kind: loinc for kind, (_d, loinc) in DOCUMENT_KINDS.items() if loinc}

# --- Laboratory analytes and units --------------------------------------------------------------

#: Lab spellings that are not UCUM -> their UCUM code. Units not listed here and written with
#: printable ASCII only are taken to be UCUM already (the HIS contract says they are).
UCUM_ALIASES: Final = {
    "µmol/L": "umol/L",
    "μmol/L": "umol/L",
    "µg/L": "ug/L",
    "µg/dL": "ug/dL",
    "µg/mL": "ug/mL",
    "µL": "uL",
    "fl": "fL",
    "10^3/µL": "10*3/uL",
    "10^3/uL": "10*3/uL",
    "10^6/µL": "10*6/uL",
    "10^6/uL": "10*6/uL",
    "10^9/L": "10*9/L",
    "10^12/L": "10*12/L",
    "x10^9/L": "10*9/L",
    "x10^12/L": "10*12/L",
    "mIU/L": "m[IU]/L",
    "mIU/mL": "m[IU]/mL",
    "µIU/mL": "u[IU]/mL",
    "uIU/mL": "u[IU]/mL",
    "IU/L": "[IU]/L",
    "IU/mL": "[IU]/mL",
    "mEq/L": "meq/L",
    "mm/hr": "mm/h",
    "sec": "s",
    "ratio": "{ratio}",
    "INR": "{INR}",
}
_UCUM_LEXICAL = re.compile(r"[!-~]{1,32}")


@lru_cache(maxsize=1024)
def ucum_code(unit: str | None) -> str | None:
    """The UCUM code for a lab's unit string, or None when it cannot be one."""
    if unit is None:
        return None
    alias = UCUM_ALIASES.get(unit)
    if alias is not None:
        return alias
    return unit if _UCUM_LEXICAL.fullmatch(unit) and "^" not in unit else None


# Unit properties: LOINC separates mass from substance concentration, counts from percentages.
MASS, SUBSTANCE, COUNT, PERCENT, ANY = "mass", "substance", "count", "percent", "*"
_UNIT_PROPERTY: Final = {
    **dict.fromkeys(
        (
            "g/dL",
            "g/L",
            "mg/dL",
            "mg/L",
            "ug/dL",
            "ug/L",
            "ug/mL",
            "ng/mL",
            "ng/dL",
            "ng/L",
            "pg/mL",
            "g/dl",
            "mg/dl",
        ),
        MASS,
    ),
    **dict.fromkeys(
        ("mol/L", "mmol/L", "umol/L", "nmol/L", "pmol/L", "mmol/l", "umol/l"), SUBSTANCE
    ),
    **dict.fromkeys(("10*3/uL", "10*6/uL", "10*9/L", "10*12/L", "/uL", "/L"), COUNT),
    "%": PERCENT,
}

_BLD, _SERPL, _PPP = "in Blood", "in Serum or Plasma", "in Platelet poor plasma"
_AUTO = "in Blood by Automated count"
#: analyte_code -> {unit property, UCUM code, "" (no unit) or ANY: (LOINC code, long common name)}.
ANALYTE_LOINC_BY_UNIT: Final[dict[str, dict[str, tuple[str, str]]]] = {
    # haematology
    "HGB": {MASS: ("718-7", f"Hemoglobin [Mass/volume] {_BLD}")},
    "HCT": {ANY: ("4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count")},
    "RBC": {COUNT: ("789-8", f"Erythrocytes [#/volume] {_AUTO}")},
    "WBC": {COUNT: ("6690-2", f"Leukocytes [#/volume] {_AUTO}")},
    "PLT": {COUNT: ("777-3", f"Platelets [#/volume] {_AUTO}")},
    "MCV": {ANY: ("787-2", "MCV [Entitic volume] by Automated count")},
    "MCH": {ANY: ("785-6", "MCH [Entitic mass] by Automated count")},
    "MCHC": {MASS: ("786-4", "MCHC [Mass/volume] by Automated count")},
    "RDW": {PERCENT: ("788-0", "Erythrocyte distribution width [Ratio] by Automated count")},
    "MPV": {ANY: ("32623-1", f"Platelet mean volume [Entitic volume] {_AUTO}")},
    "NEUT": {
        COUNT: ("751-8", f"Neutrophils [#/volume] {_AUTO}"),
        PERCENT: ("770-8", "Neutrophils/100 leukocytes in Blood by Automated count"),
    },
    "LYM": {
        COUNT: ("731-0", f"Lymphocytes [#/volume] {_AUTO}"),
        PERCENT: ("736-9", "Lymphocytes/100 leukocytes in Blood by Automated count"),
    },
    "MONO": {
        COUNT: ("742-7", f"Monocytes [#/volume] {_AUTO}"),
        PERCENT: ("5905-5", "Monocytes/100 leukocytes in Blood by Automated count"),
    },
    "EOS": {
        COUNT: ("711-2", f"Eosinophils [#/volume] {_AUTO}"),
        PERCENT: ("713-8", "Eosinophils/100 leukocytes in Blood by Automated count"),
    },
    "BASO": {
        COUNT: ("704-7", f"Basophils [#/volume] {_AUTO}"),
        PERCENT: ("706-2", "Basophils/100 leukocytes in Blood by Automated count"),
    },
    "ESR": {ANY: ("30341-2", "Erythrocyte sedimentation rate")},
    "HBA1C": {
        PERCENT: ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
        "mmol/mol": ("59261-8", "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol"),
    },
    # coagulation
    "INR": {ANY: ("6301-6", f"INR {_PPP} by Coagulation assay")},
    "PT": {"s": ("5902-2", "Prothrombin time (PT)")},
    "APTT": {"s": ("3173-2", "aPTT in Blood by Coagulation assay")},
    "FIBR": {MASS: ("3255-7", f"Fibrinogen [Mass/volume] {_PPP} by Coagulation assay")},
    # clinical chemistry
    "GLU": {
        MASS: ("2345-7", f"Glucose [Mass/volume] {_SERPL}"),
        SUBSTANCE: ("14749-6", f"Glucose [Moles/volume] {_SERPL}"),
    },
    "CREA": {
        MASS: ("2160-0", f"Creatinine [Mass/volume] {_SERPL}"),
        SUBSTANCE: ("14682-9", f"Creatinine [Moles/volume] {_SERPL}"),
    },
    "UREA": {
        MASS: ("3091-6", f"Urea [Mass/volume] {_SERPL}"),
        SUBSTANCE: ("22664-7", f"Urea [Moles/volume] {_SERPL}"),
    },
    "UA": {
        MASS: ("3084-1", f"Urate [Mass/volume] {_SERPL}"),
        SUBSTANCE: ("14933-6", f"Urate [Moles/volume] {_SERPL}"),
    },
    "CHOL": {
        MASS: ("2093-3", f"Cholesterol [Mass/volume] {_SERPL}"),
        SUBSTANCE: ("14647-2", f"Cholesterol [Moles/volume] {_SERPL}"),
    },
    "HDL": {
        MASS: ("2085-9", f"Cholesterol in HDL [Mass/volume] {_SERPL}"),
        SUBSTANCE: ("14646-4", f"Cholesterol in HDL [Moles/volume] {_SERPL}"),
    },
    "LDL": {MASS: ("2089-1", f"Cholesterol in LDL [Mass/volume] {_SERPL}")},
    "TG": {
        MASS: ("2571-8", f"Triglyceride [Mass/volume] {_SERPL}"),
        SUBSTANCE: ("14927-8", f"Triglyceride [Moles/volume] {_SERPL}"),
    },
    "ALT": {ANY: ("1742-6", f"Alanine aminotransferase [Enzymatic activity/volume] {_SERPL}")},
    "AST": {ANY: ("1920-8", f"Aspartate aminotransferase [Enzymatic activity/volume] {_SERPL}")},
    "ALP": {ANY: ("6768-6", f"Alkaline phosphatase [Enzymatic activity/volume] {_SERPL}")},
    "GGT": {ANY: ("2324-2", f"Gamma glutamyl transferase [Enzymatic activity/volume] {_SERPL}")},
    "LDH": {ANY: ("2532-0", f"Lactate dehydrogenase [Enzymatic activity/volume] {_SERPL}")},
    "CK": {ANY: ("2157-6", f"Creatine kinase [Enzymatic activity/volume] {_SERPL}")},
    "AMY": {ANY: ("1798-8", f"Amylase [Enzymatic activity/volume] {_SERPL}")},
    "LIP": {ANY: ("3040-3", f"Lipase [Enzymatic activity/volume] {_SERPL}")},
    "BILT": {
        MASS: ("1975-2", f"Bilirubin.total [Mass/volume] {_SERPL}"),
        SUBSTANCE: ("14631-6", f"Bilirubin.total [Moles/volume] {_SERPL}"),
    },
    "BILD": {MASS: ("1968-7", f"Bilirubin.direct [Mass/volume] {_SERPL}")},
    "ALB": {MASS: ("1751-7", f"Albumin [Mass/volume] {_SERPL}")},
    "PROT": {MASS: ("2885-2", f"Protein [Mass/volume] {_SERPL}")},
    "NA": {SUBSTANCE: ("2951-2", f"Sodium [Moles/volume] {_SERPL}")},
    "K": {SUBSTANCE: ("2823-3", f"Potassium [Moles/volume] {_SERPL}")},
    "CL": {SUBSTANCE: ("2075-0", f"Chloride [Moles/volume] {_SERPL}")},
    "CA": {
        MASS: ("17861-6", f"Calcium [Mass/volume] {_SERPL}"),
        SUBSTANCE: ("2000-8", f"Calcium [Moles/volume] {_SERPL}"),
    },
    "MG": {
        MASS: ("19123-9", f"Magnesium [Mass/volume] {_SERPL}"),
        SUBSTANCE: ("2601-3", f"Magnesium [Moles/volume] {_SERPL}"),
    },
    "PHOS": {MASS: ("2777-1", f"Phosphate [Mass/volume] {_SERPL}")},
    "FE": {
        MASS: ("2498-4", f"Iron [Mass/volume] {_SERPL}"),
        SUBSTANCE: ("14798-3", f"Iron [Moles/volume] {_SERPL}"),
    },
    "FERR": {MASS: ("2276-4", f"Ferritin [Mass/volume] {_SERPL}")},
    "CRP": {MASS: ("1988-5", f"C reactive protein [Mass/volume] {_SERPL}")},
    "PCT": {MASS: ("33959-8", f"Procalcitonin [Mass/volume] {_SERPL}")},
    "NTPROBNP": {
        MASS: ("33762-6", f"Natriuretic peptide.B prohormone N-Terminal [Mass/volume] {_SERPL}")
    },
    "B12": {MASS: ("2132-9", f"Cobalamin (Vitamin B12) [Mass/volume] {_SERPL}")},
    "FOL": {MASS: ("2284-8", f"Folate [Mass/volume] {_SERPL}")},
    # endocrinology and tumour markers
    "TSH": {ANY: ("3016-3", f"Thyrotropin [Units/volume] {_SERPL}")},
    "FT4": {
        MASS: ("3024-7", f"Thyroxine (T4) free [Mass/volume] {_SERPL}"),
        SUBSTANCE: ("14920-3", f"Thyroxine (T4) free [Moles/volume] {_SERPL}"),
    },
    "FT3": {
        MASS: ("3051-0", f"Triiodothyronine (T3) Free [Mass/volume] {_SERPL}"),
        SUBSTANCE: ("14928-6", f"Triiodothyronine (T3) Free [Moles/volume] {_SERPL}"),
    },
    "PSA": {MASS: ("2857-1", f"Prostate specific Ag [Mass/volume] {_SERPL}")},
    "CEA": {MASS: ("2039-6", f"Carcinoembryonic Ag [Mass/volume] {_SERPL}")},
    "AFP": {MASS: ("1834-1", f"Alpha-1-Fetoprotein [Mass/volume] {_SERPL}")},
    "CA125": {ANY: ("10334-1", f"Cancer Ag 125 [Units/volume] {_SERPL}")},
    "CA199": {ANY: ("24108-3", f"Cancer Ag 19-9 [Units/volume] {_SERPL}")},
    # urinalysis: numeric results by mass, qualitative ones by test strip
    "URINE_COLOR": {ANY: ("5778-6", "Color of Urine")},
    "URINE_APPEARANCE": {ANY: ("5767-9", "Appearance of Urine")},
    "URINE_PH": {ANY: ("5803-2", "pH of Urine by Test strip")},
    "URINE_SG": {ANY: ("5811-5", "Specific gravity of Urine by Test strip")},
    "URINE_PROT": {
        MASS: ("2888-6", "Protein [Mass/volume] in Urine"),
        "": ("20454-5", "Protein [Presence] in Urine by Test strip"),
    },
    "URINE_GLU": {
        MASS: ("2350-7", "Glucose [Mass/volume] in Urine"),
        "": ("25428-4", "Glucose [Presence] in Urine by Test strip"),
    },
    "URINE_KET": {"": ("2514-8", "Ketones [Presence] in Urine by Test strip")},
    "URINE_BLD": {"": ("5794-3", "Hemoglobin [Presence] in Urine by Test strip")},
    "URINE_NIT": {"": ("5802-4", "Nitrite [Presence] in Urine by Test strip")},
    "URINE_LEU": {"": ("5799-2", "Leukocyte esterase [Presence] in Urine by Test strip")},
    "URINE_BIL": {"": ("5770-3", "Bilirubin.total [Presence] in Urine by Test strip")},
}


#: Other spellings of the same analytes (the default HIS's laboratory uses these).
ANALYTE_SYNONYMS: Final = {
    "FER": "FERR",
    "FIB": "FIBR",
    "U_COL": "URINE_COLOR",
    "U_CLA": "URINE_APPEARANCE",
    "U_PH": "URINE_PH",
    "U_SG": "URINE_SG",
    "U_PRO": "URINE_PROT",
    "U_GLU": "URINE_GLU",
    "U_KET": "URINE_KET",
    "U_BLD": "URINE_BLD",
    "U_NIT": "URINE_NIT",
    "U_LEU": "URINE_LEU",
    "U_BIL": "URINE_BIL",
}
ANALYTE_LOINC_BY_UNIT.update(
    {alias: ANALYTE_LOINC_BY_UNIT[code] for alias, code in ANALYTE_SYNONYMS.items()}
)


def analyte_loinc(analyte_code: str, ucum: str | None) -> tuple[str, str] | None:
    """The LOINC code of an analyte measured in ``ucum`` units (None: no unit), if known.

    The unit decides between LOINC's properties (mass or substance concentration, count or
    percentage); a unit whose property the table does not list gets no LOINC code at all, and
    results without a unit match the ``""`` entry (qualitative results) or ANY.
    """
    by_unit = ANALYTE_LOINC_BY_UNIT.get(analyte_code)
    if by_unit is None:
        return None
    if ucum is None:
        return by_unit.get("") or by_unit.get(ANY)
    return by_unit.get(ucum) or by_unit.get(_UNIT_PROPERTY.get(ucum, "?")) or by_unit.get(ANY)


#: analyte_code -> its first-listed LOINC (code, display): the one of its usual unit.
ANALYTE_LOINC: Final = {
    code: next(iter(by_unit.values())) for code, by_unit in ANALYTE_LOINC_BY_UNIT.items()
}
#: LOINC code -> every analyte code that may carry it (for ``code=`` token searches).
ANALYTES_BY_LOINC: Final[dict[str, frozenset[str]]] = {}
for _analyte, _by_unit in ANALYTE_LOINC_BY_UNIT.items():
    for _loinc, _ in _by_unit.values():
        ANALYTES_BY_LOINC[_loinc] = ANALYTES_BY_LOINC.get(_loinc, frozenset()) | {_analyte}
del _analyte, _by_unit, _loinc


@dataclass(frozen=True)
class AnalyteUnits:
    """Which results of one analyte carry a given LOINC code: by their unit as the HIS writes it."""

    analyte_code: str
    units: frozenset[str]  # these unit strings
    without_unit: bool  # results with no unit
    other_units: bool  # any unit string not in ``KNOWN_UNITS``


#: Every unit string the tables above name (as written by labs, and as UCUM codes).
KNOWN_UNITS: Final = frozenset(
    {
        *UCUM_ALIASES,
        *UCUM_ALIASES.values(),
        *_UNIT_PROPERTY,
        *(
            k
            for by_unit in ANALYTE_LOINC_BY_UNIT.values()
            for k in by_unit
            if k not in ("", MASS, SUBSTANCE, COUNT, PERCENT, ANY)
        ),
    }
)


def analytes_with_loinc(loinc: str) -> list[AnalyteUnits]:
    """The (analyte, unit) combinations ``analyte_loinc`` maps to ``loinc``, for searches.

    Derived from ``analyte_loinc`` itself, so a ``code=http://loinc.org|X`` search finds exactly
    the results whose Observation.code carries X.
    """
    out = []
    for analyte in sorted(ANALYTES_BY_LOINC.get(loinc, ())):

        def gives(ucum: str | None, a: str = analyte) -> bool:
            found = analyte_loinc(a, ucum)
            return found is not None and found[0] == loinc

        units = frozenset(u for u in KNOWN_UNITS if gives(ucum_code(u)))
        out.append(AnalyteUnits(analyte, units, gives(None), gives("{unlisted}")))
    return out
