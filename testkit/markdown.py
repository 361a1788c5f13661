"""Markdown read as data: the tables and code blocks the tests hold to the code."""

import re


def markdown_table(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first table under a Markdown heading, cells stripped, `\\|` unescaped."""
    section = text.split(f"{heading}\n", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [
        [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", row.strip().strip("|"))] for row in rows
    ]


def fenced_blocks(text: str, heading: str, language: str) -> list[str]:
    """The code blocks of a language (```yaml) in the section under a Markdown heading, in order."""
    section = text.split(f"{heading}\n", 1)[1].split("\n#", 1)[0]
    return re.findall(rf"^```{language}\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)
