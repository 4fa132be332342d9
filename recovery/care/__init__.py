"""The app's state and the services that change it: models, enrolment and links, check-ins,
alerts and their history, clinics and accounts, audit, and the outreach job.

Services take models and plain values, never `request` or a form, and only `flush()`: the
route, command or job that called them commits once.
"""
