"""Booking from free slots and video consultations (F19, F20).

``Appointment/$find`` (IHE ITI-115) proposes Appointments built from free Slots;
``Appointment/$book`` (IHE ITI-117) books one slot atomically through the HIS connector's write
methods, and also cancels or moves an appointment of the patient's. ``video`` makes the room of
a video appointment and the join link each reader gets (Jitsi Meet with JWT room
authentication by default).
"""
