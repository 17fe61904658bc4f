#!/usr/bin/env python3
"""Opens an agentsight report.html in headless Chromium (selenium + Debian's
chromium-driver) and prints what a test needs to know as one JSON object:
console errors, every network request the page made, the findings and
timeline marks drawn, whether clicking a finding reveals its chain, whether
the timeline's zoom and filters respond, whether an injected payload ran
(it would set window.__pwned or fetch something), the page text, and a
screenshot path.

usage: report_browser.py REPORT_HTML SCREENSHOT_PNG
"""
import json
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def main() -> int:
    report, shot = sys.argv[1], sys.argv[2]
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1500,1000", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--disable-default-apps"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        url = "file://" + report
        driver.get(url)
        time.sleep(0.5)
        out = {"url": url}
        js = driver.execute_script
        out["pwned"] = js("return typeof window.__pwned === 'undefined' ? null : String(window.__pwned)")
        out["title"] = driver.title
        out["findings"] = len(driver.find_elements(By.CSS_SELECTOR, "details.finding"))
        out["marks"] = js("return document.querySelectorAll('#timeline .mark').length")
        out["mark_events"] = js(
            "var s=0;document.querySelectorAll('#timeline .mark').forEach(function(m){s+=+m.getAttribute('data-n')});return s")
        out["timeline_events"] = js("var t=document.getElementById('timeline');return t?+t.getAttribute('data-events'):null")
        out["marks_by_kind"] = js(
            "var o={};document.querySelectorAll('#timeline .mark').forEach(function(m){"
            "var k=[].slice.call(m.classList).filter(function(c){return c.indexOf('k-')===0})[0];o[k]=(o[k]||0)+1});return o")
        out["tree_rows"] = js("return document.querySelectorAll('#tree g').length")
        # Clicking a finding reveals its chain.
        details = driver.find_elements(By.CSS_SELECTOR, "details.finding")
        if details:
            chain = details[0].find_element(By.CSS_SELECTOR, "ol.chain")
            out["chain_visible_before"] = chain.is_displayed()
            details[0].find_element(By.TAG_NAME, "summary").click()
            time.sleep(0.2)
            out["chain_visible_after"] = chain.is_displayed()
            out["chain_steps"] = len(chain.find_elements(By.TAG_NAME, "li"))
        # Zoom: the marks move; the kind filter hides one kind.
        if js("return !!document.getElementById('timeline')"):
            where = ("return [].map.call(document.querySelectorAll('#timeline .mark'),"
                     "function(m){return m.getAttribute('x')+'/'+m.getAttribute('width')}).join(' ')")
            before = js(where)
            driver.find_element(By.ID, "zoom-in").click()
            after = js(where)
            out["zoom_changed"] = before != after
            driver.find_element(By.ID, "zoom-reset").click()
            box = driver.find_element(By.CSS_SELECTOR, "input.kind[value='exec']")
            box.click()
            out["exec_hidden"] = js(
                "var m=document.querySelectorAll('#timeline .k-exec');if(!m.length)return null;"
                "return [].every.call(m,function(x){return getComputedStyle(x).display==='none'})")
            box.click()
        out["text"] = driver.find_element(By.TAG_NAME, "body").text
        driver.save_screenshot(shot)
        out["screenshot"] = shot
        out["pwned_after"] = js("return typeof window.__pwned === 'undefined' ? null : String(window.__pwned)")
        out["console"] = [e for e in driver.get_log("browser")]
        requests = []
        for e in driver.get_log("performance"):
            msg = json.loads(e["message"])["message"]
            if msg.get("method") == "Network.requestWillBeSent":
                requests.append(msg["params"]["request"]["url"])
        out["requests"] = requests
    finally:
        driver.quit()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
