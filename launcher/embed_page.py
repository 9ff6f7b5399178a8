#!/usr/bin/env python3
"""Turns the dashboard's page (one HTML file with one <style> and one
<script>) into a C++ header: the page as a raw string, and the SHA-256 of its
style and script as Content-Security-Policy writes them, so that the page's
own inline code runs and nothing else does.

    embed_page.py launcher/dashboard.html build/launcher/dashboard_page.hpp
"""
import base64
import hashlib
import re
import sys


def csp_hash(page, tag):
    blocks = re.findall(r"<%s>(.*?)</%s>" % (tag, tag), page, re.S)
    if len(blocks) != 1:
        sys.exit("embed_page.py: the page must have exactly one <%s> (without attributes); it has %d"
                 % (tag, len(blocks)))
    return "sha256-" + base64.b64encode(hashlib.sha256(blocks[0].encode("utf-8")).digest()).decode()


def main():
    src, out = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        page = f.read()
    delimiter = "troupe_page"
    if ")" + delimiter + '"' in page:
        sys.exit("embed_page.py: the page holds the raw string's delimiter")
    # GCC takes long raw strings; pieces of 16 KB keep within what every
    # compiler must take for one literal, concatenated.
    pieces = [page[i:i + 16000] for i in range(0, len(page), 16000)] or [""]
    body = "\n".join('R"%s(%s)%s"' % (delimiter, p, delimiter) for p in pieces)
    with open(out, "w", encoding="utf-8") as f:
        f.write("// Made by launcher/embed_page.py from launcher/dashboard.html: edit that.\n")
        f.write("#pragma once\n\nnamespace troupe::cli::dashboard_page {\n\n")
        f.write("inline constexpr const char html[] =\n%s;\n\n" % body)
        f.write('inline constexpr const char script_hash[] = "%s";\n' % csp_hash(page, "script"))
        f.write('inline constexpr const char style_hash[] = "%s";\n' % csp_hash(page, "style"))
        f.write("\n}  // namespace troupe::cli::dashboard_page\n")


if __name__ == "__main__":
    main()
