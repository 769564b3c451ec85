"""Checks the flow report as headless Chromium rendered it, for scripts/browser_check.sh.

    browser_check.py DOM STACK SCREENSHOT

DOM is Chromium's `--dump-dom` of the page (the document after parsing, as the browser holds
it), STACK the stack file the report was made from, SCREENSHOT the PNG Chromium took of it.
Prints one PASS or FAIL line per check and, last, `browser: N passed, M failed`; exits 1 when
any check failed. Standard library only (html.parser, tomllib, struct).
"""
import re
import struct
import sys
import tomllib
from html.parser import HTMLParser

VERDICTS = {"allowed", "blocked", "unknown"}
FLOW_STATUSES = {"open", "blocked", "unverified"}
# Attributes through which an element can make the browser fetch something.
FETCHING = {"src", "href", "xlink:href", "srcset", "action", "formaction", "poster", "data", "background", "ping"}
# Elements that load or run something, or change where the page's URLs lead.
FORBIDDEN = {"script", "link", "iframe", "frame", "object", "embed", "base", "form"}


class Page(HTMLParser):
    """The flows, their drawn paths and hops, and anything that would load from outside."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.flows = []          # {"name", "status", "after", "paths": [{"status", "hops": [...]}]}
        self.csp = []            # content of every Content-Security-Policy meta
        self.forbidden = []      # (tag, attributes) of elements that load or run something
        self.fetching = []       # (tag, attribute, value) pointing outside the page
        self.styles = []         # text of <style> elements and style attributes
        self.stray_hops = []     # hops outside any flow figure
        self._flow = None
        self._path = None
        self._hop = None
        self._g_depth = 0        # <g> elements open inside the current hop
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self._start(tag, attrs, closes=False)

    def handle_startendtag(self, tag, attrs):
        self._start(tag, attrs, closes=True)

    def _start(self, tag, attrs, closes):
        a = {name: (value or "") for name, value in attrs}
        if tag in FORBIDDEN:
            self.forbidden.append((tag, a))
        for name, value in a.items():
            # Only a reference inside the page (#id) may stand there: anything else, a URL with
            # a scheme (http:, file:, data:…) or a relative path, is something to fetch.
            if name in FETCHING and not value.strip().startswith("#"):
                self.fetching.append((tag, name, value))
            if name == "style":
                self.styles.append(value)
        if tag == "meta" and a.get("http-equiv", "").lower() == "content-security-policy":
            self.csp.append(a.get("content", ""))
        if tag == "style" and not closes:
            self._in_style = True
        classes = a.get("class", "").split()
        if tag == "figure" and "flow" in classes:
            self._flow = {"name": a.get("data-flow"), "status": a.get("data-status"),
                          "after": a.get("data-after"), "paths": [], "hops": []}
            self.flows.append(self._flow)
        elif tag == "svg" and self._flow is not None and not closes:
            self._path = {"status": a.get("data-status"), "hops": []}
            self._flow["paths"].append(self._path)
        elif tag == "g" and self._hop is not None and not closes:
            self._g_depth += 1
        elif tag == "g" and "hop" in classes:
            hop = {"layer": a.get("data-layer"), "verdict": a.get("data-verdict"),
                   "resource": a.get("data-resource"), "strokes": [], "text": ""}
            owner = self._path if self._path is not None else self._flow
            (owner["hops"] if owner is not None else self.stray_hops).append(hop)
            if not closes:
                self._hop = hop
                self._g_depth = 0
        elif self._hop is not None and tag in ("rect", "path", "polygon") and a.get("stroke"):
            self._hop["strokes"].append(a["stroke"].lower())

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False
        elif tag == "g" and self._hop is not None:
            if self._g_depth:
                self._g_depth -= 1
            else:
                self._hop = None
        elif tag == "svg":
            self._path = None
        elif tag == "figure":
            self._flow = None

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)
        if self._hop is not None:
            self._hop["text"] += data


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    dom_path, stack_path, shot_path = sys.argv[1:]
    with open(stack_path, "rb") as f:
        stack = tomllib.load(f)
    # The flow check draws the stack's [[flows]] and its [[egress]] paths alike.
    declared = [entry["name"] for table in ("flows", "egress") for entry in stack.get(table, [])]
    page = Page()
    with open(dom_path, encoding="utf-8") as f:
        page.feed(f.read())
    page.close()

    results = []

    def check(ok, what, detail=""):
        results.append(ok)
        print(f"{'PASS' if ok else 'FAIL'}: {what}" + (f" ({detail})" if detail else ""))

    drawn = [flow["name"] for flow in page.flows]
    missing = [name for name in declared if name not in drawn]
    check(bool(declared) and not missing,
          f"every [[flows]] and [[egress]] of {stack_path} is drawn as a data-flow element",
          f"missing: {', '.join(missing)}" if missing else f"{len(declared)} flows: {', '.join(declared)}")
    extra = sorted(set(drawn) - set(declared))
    twice = sorted({name for name in drawn if drawn.count(name) > 1})
    check(not extra and not twice, "no flow the stack file does not declare, none drawn twice",
          "; ".join(filter(None, [extra and f"undeclared: {', '.join(extra)}", twice and f"twice: {', '.join(twice)}"])))

    bad_status = [f"{f['name']}: {f['status']}/{f['after']}" for f in page.flows
                  if f["status"] not in FLOW_STATUSES or f["after"] not in FLOW_STATUSES]
    check(not bad_status, "every flow has data-status and data-after (open, blocked or unverified)",
          ", ".join(bad_status))

    blocked = [f for f in page.flows if f["status"] == "blocked"]
    check(bool(blocked), "at least one flow is blocked before the plan (the demo's data-subnet ACL)",
          ", ".join(f["name"] for f in blocked) or "none")

    hops = [hop for f in page.flows for path in f["paths"] for hop in path["hops"]] + \
           [hop for f in page.flows for hop in f["hops"]] + page.stray_hops
    check(not page.stray_hops, "no hop outside a flow's figure",
          f"{len(page.stray_hops)} stray" if page.stray_hops else "")
    no_path = [f["name"] for f in page.flows if not any(path["hops"] for path in f["paths"])]
    check(not no_path, "every flow is drawn as an inline SVG with hops",
          f"without: {', '.join(no_path)}" if no_path else "")
    bad_hops = [f"{h['layer']}@{h['resource']}: {h['verdict']}" for h in hops
                if h["verdict"] not in VERDICTS or not h["layer"] or not h["resource"]]
    check(bool(hops) and not bad_hops,
          "every hop has data-layer, data-resource and data-verdict (allowed, blocked or unknown)",
          ", ".join(bad_hops) or f"{len(hops)} hops")

    unmarked = [f["name"] for f in blocked
                if not any(h["verdict"] == "blocked" for path in f["paths"] for h in path["hops"])]
    check(not unmarked, "every blocked flow has a hop marked data-verdict=\"blocked\"", ", ".join(unmarked))
    inconsistent = [f"{f['name']} ({path['status']})" for f in page.flows for path in f["paths"]
                    if (path["status"] == "blocked" and not any(h["verdict"] == "blocked" for h in path["hops"]))
                    or (path["status"] == "open" and any(h["verdict"] != "allowed" for h in path["hops"]))]
    check(not inconsistent, "each drawn path agrees with its hops (blocked: a blocked hop; open: all allowed)",
          ", ".join(inconsistent))

    # The mark a person sees: the hop's own words, and a colour the other verdict does not use.
    unlabelled = [f"{h['layer']}@{h['resource']}" for h in hops
                  if not h["verdict"] or h["verdict"].upper() not in h["text"]]
    check(not unlabelled, "every hop is labelled with its verdict (BLOCKED, ALLOWED…) in the drawing",
          ", ".join(unlabelled))
    blocked_strokes = {s for h in hops if h["verdict"] == "blocked" for s in h["strokes"]}
    allowed_strokes = {s for h in hops if h["verdict"] == "allowed" for s in h["strokes"]}
    check(bool(blocked_strokes) and not (blocked_strokes & allowed_strokes)
          and all(h["strokes"] for h in hops if h["verdict"] == "blocked"),
          "blocked hops are outlined in a colour no allowed hop uses",
          f"blocked {sorted(blocked_strokes)}, allowed {sorted(allowed_strokes)}")

    check(any("default-src 'none'" in csp for csp in page.csp),
          "a Content-Security-Policy with default-src 'none'", " | ".join(page.csp) or "none")
    check(not page.forbidden, "no element that loads or runs anything (script, link, img, iframe…)",
          ", ".join(sorted({tag for tag, _ in page.forbidden})))
    check(not page.fetching, "no src/href (or other fetching attribute) but #references inside the page",
          ", ".join(f"<{t} {n}={v!r}>" for t, n, v in page.fetching[:5]))
    css = "\n".join(page.styles)
    check(not re.search(r"url\s*\(|@import|@font-face", css, re.I), "no url(), @import or @font-face in the CSS")

    size = png_size(shot_path)
    check(size is not None and size[0] > 0 and size[1] > 0, "the screenshot is a PNG",
          f"{shot_path}, {size[0]}x{size[1]}" if size else shot_path)

    failed = results.count(False)
    print(f"browser: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
