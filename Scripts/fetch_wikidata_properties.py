#!/usr/bin/env python3
"""Writes the Wikidata label, description and aliases (English) of every relation in rel_info.json.

Used by Scripts/setup only where ../shared/data/wikidata is absent. Standard library only.
Usage: fetch_wikidata_properties.py rel_info.json out.json
"""
import json
import sys
import urllib.request

API = "https://www.wikidata.org/w/api.php?action=wbgetentities&format=json&languages=en&props=labels|descriptions|aliases&ids="


def main(rel_info_path: str, out_path: str) -> None:
    with open(rel_info_path) as f:
        rel_info = json.load(f)
    ids = list(rel_info)
    out = {}
    for start in range(0, len(ids), 50):
        chunk = ids[start:start + 50]
        req = urllib.request.Request(API + "|".join(chunk), headers={"User-Agent": "autore-swift-setup"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            entities = json.load(resp)["entities"]
        for pid in chunk:
            e = entities.get(pid, {})
            out[pid] = {
                "name": rel_info[pid],
                "wikidata_label": e.get("labels", {}).get("en", {}).get("value", rel_info[pid]),
                "wikidata_description": e.get("descriptions", {}).get("en", {}).get("value", ""),
                "aliases": [a["value"] for a in e.get("aliases", {}).get("en", [])],
            }
    tmp = out_path + ".part"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
    import os
    os.replace(tmp, out_path)


if __name__ == "__main__":
    main(*sys.argv[1:3])
