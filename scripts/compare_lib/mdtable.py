"""Markdown tables for report.md. Every cell goes through cell(), so that
text from a run (a failure reason with a '|' or a line break, a host's name)
stays in its cell instead of breaking the row."""


def cell(value):
    """`value` as the text of one table cell: '|' escaped, line breaks as spaces."""
    text = " ".join(str(value).splitlines())
    return text.replace("|", "\\|")


def table(header, rows):
    """The lines of a table: the header, the delimiter row and one line per row."""
    lines = ["| " + " | ".join(cell(value) for value in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return lines
