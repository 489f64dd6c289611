"""Accessibility checks in a real browser: axe-core (the npm package, installed by
scripts/test.sh from package.json) injected by Selenium, and the phone-width overflow check."""

from __future__ import annotations

from tests.web.live import ROOT

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


def axe_violations(browser, impacts=BLOCKING) -> list[dict]:
    """axe-core's violations of WCAG 2.0/2.1 A and AA on the page, of the given impacts."""
    assert AXE.is_file(), "axe-core missing: scripts/test.sh installs it with npm"
    browser.execute_script(AXE.read_text(encoding="utf-8"))
    result = browser.execute_async_script(
        """const done = arguments[arguments.length - 1];
        const tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
        axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]})
          .then((r) => done(r.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + n.failureSummary),
          }))))
          .catch((e) => done([{id: "axe-error", impact: "critical", help: String(e)}]));"""
    )
    return [v for v in result if v["impact"] in impacts]


def horizontal_overflow(browser) -> str:
    """ "" when the page fits the viewport's width; else by how much it does not, and the
    outermost elements that stick out (to say what to fix)."""
    return browser.execute_script(
        """const over = document.documentElement.scrollWidth - window.innerWidth;
        if (over <= 0) return "";
        const out = [];
        for (const el of document.body.querySelectorAll("*")) {
          if (el.getBoundingClientRect().right <= window.innerWidth + 0.5) continue;
          if (out.some((o) => o.contains(el))) continue;
          out.push(el);
          if (out.length >= 4) break;
        }
        const cls = (el) => (typeof el.className === "string" && el.className.trim()
          ? "." + el.className.trim().split(/\\s+/).join(".") : "");
        const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + cls(el);
        return `${over} px too wide: ` + out.map(name).join(", ");"""
    )
