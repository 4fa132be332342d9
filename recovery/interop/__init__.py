"""What leaves the system for other systems: CSV, FHIR R4, and the alert feed."""
