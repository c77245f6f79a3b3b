"""Importing AWS CloudFormation / SAM templates (``clientevents import-cloudformation``).

::

    from clientevents.cfn import import_template, load_template

    result = import_template(load_template("template.yaml"), parameters={"Env": "prod"})
    print(result.yaml())
    for finding in result.warnings:
        print(finding.resource, finding.outcome, finding.message)

docs/import-cloudformation.md lists what each resource type becomes.
"""

from __future__ import annotations

from clientevents.cfn.context import Finding
from clientevents.cfn.importer import ImportResult, import_template
from clientevents.cfn.template import Template, TemplateError, load_template, parse_template

__all__ = [
    "Finding",
    "ImportResult",
    "Template",
    "TemplateError",
    "import_template",
    "load_template",
    "parse_template",
]
