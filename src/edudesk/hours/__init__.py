"""Business hours and the SLA clock: when humans answer, and how much of their time a wait has used.

``schedule`` (pure: no database, no HTTP) holds the weekly hours with holidays and 调休 make-up workdays and does
the clock arithmetic; ``china`` fills holidays and make-up days from the statutory calendar; ``models`` stores an
org's or skill group's hours as the JSON form of ``schedule.BusinessHours``. See docs/business-hours.md.
"""
