"""Notifications and the job queue (F22).

Events are detected from the HIS (``HisConnector.changes``: a change feed read from a durable
cursor) and from the PACS (the accession numbers of orders still waiting for images), recorded
once each in the state database, and delivered by email and SMS per the patient's preferences,
exactly once per event and channel, by jobs on the queue (``notifications.queue``: Dramatiq
over the state database by default, or Redis for several hosts). ``fhir-gateway worker`` runs
the jobs and the periodic ones.

Patients choose what they are told of, per event kind and channel, and the language, at
``/account/notifications`` (``pages``); the gateway's own bookings are queued as events as
they are made (``booking``); new questionnaire assignments are a source of their own
(``assignments``).

Layering: above the surfaces (it uses ``smart_auth``'s mail and SMS senders, state database,
account session and pages' frame, and ``dicomweb``'s PACS backends), below ``gateway``.
"""
