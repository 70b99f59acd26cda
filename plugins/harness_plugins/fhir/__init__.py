"""Shared FHIR R4 + FR Core resource validator (a library, not a plugin).

Used by the interop and portability families::

    from harness_plugins.fhir.validator import default_validator
"""
