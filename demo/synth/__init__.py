"""Building blocks of the synthetic HIS generator (``demo.generator``).

Each module generates one part of the hospital from a seeded ``random.Random``: reference data
(organisation, schedules, questionnaires), people, episodes of care, laboratory, imaging,
bookings and documents. ``bulk`` writes the rows in large batches.
"""
