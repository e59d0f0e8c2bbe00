"""Checks a finished run's output directory: report.json well-formed, every
subject with figures or a reason, report.md and the PNG plots present and
non-empty. `python3 -m compare_lib.check DIR` prints the problems and exits 1."""

import json
import os
import sys

from .schema import validate

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_directory(directory):
    problems = []
    report_path = os.path.join(directory, "report.json")
    try:
        with open(report_path) as file:
            report = json.load(file)
    except (OSError, ValueError) as error:
        return [f"{report_path}: {error}"]
    problems += [f"report.json: {problem}" for problem in validate(report)]
    markdown_path = os.path.join(directory, "report.md")
    if not os.path.isfile(markdown_path) or os.path.getsize(markdown_path) == 0:
        problems.append(f"{markdown_path} is missing or empty")
    expected = ["summary.png"] + [f"{metric}.png" for metric in report.get("metrics", {})
                                  if any(metric in subject.get("figures", {}) for subject in report.get("subjects", []))]
    for name in expected:
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as file:
                head = file.read(len(PNG_SIGNATURE))
            if head != PNG_SIGNATURE or os.path.getsize(path) < 1000:
                problems.append(f"{path} is not a non-empty PNG")
        except OSError as error:
            problems.append(f"{path}: {error.strerror}")
    return problems


def main():
    if len(sys.argv) != 2:
        print("usage: python3 -m compare_lib.check DIRECTORY", file=sys.stderr)
        return 2
    problems = check_directory(sys.argv[1])
    for problem in problems:
        print(f"compare check: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
