"""Licence normalisation (real-world spellings of Creative Commons licences and copyright notices, as Jamendo,
the Free Music Archive, the Internet Archive and file tags write them) and the `[release] licences` policy."""

from __future__ import annotations

import pytest

from fonoteca.errors import FonotecaError
from fonoteca.licences import ReleasePolicy, normalise

SPELLINGS = [
    # Creative Commons deed URLs (Jamendo's license_ccurl, the Internet Archive's licenseurl)
    ("http://creativecommons.org/licenses/by-nc-sa/3.0/", "CC-BY-NC-SA-3.0"),
    ("https://creativecommons.org/licenses/by/4.0/", "CC-BY-4.0"),
    ("http://creativecommons.org/licenses/by-nc-nd/3.0/us/", "CC-BY-NC-ND-3.0-US"),
    ("https://creativecommons.org/licenses/by-nd/2.5/", "CC-BY-ND-2.5"),
    ("http://creativecommons.org/licenses/by-sa/3.0/es/", "LicenseRef-CC-BY-SA-3.0-ES"),  # a port SPDX lacks
    ("http://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0"),
    ("https://creativecommons.org/publicdomain/mark/1.0/", "LicenseRef-PDM-1.0"),
    ("http://creativecommons.org/licenses/publicdomain/", "CC-PDDC"),
    ("http://creativecommons.org/licenses/sampling+/1.0/", "LicenseRef-CC-Sampling-Plus-1.0"),
    # deed titles (the Free Music Archive's license column)
    ("Attribution-NonCommercial-ShareAlike 3.0 International", "CC-BY-NC-SA-3.0"),
    ("Attribution-Noncommercial-No Derivative Works 3.0 United States", "CC-BY-NC-ND-3.0-US"),
    ("Attribution-Noncommercial-Share Alike 3.0 United States", "CC-BY-NC-SA-3.0-US"),
    ("Attribution-Share Alike 3.0 United States", "CC-BY-SA-3.0-US"),
    ("Attribution-NonCommercial-NoDerivs 2.0 Germany", "LicenseRef-CC-BY-NC-ND-2.0-DE"),
    ("Attribution-NonCommercial-ShareAlike 2.0 UK: England & Wales", "CC-BY-NC-SA-2.0-UK"),
    ("Creative Commons Attribution-NonCommercial-NoDerivatives 4.0", "CC-BY-NC-ND-4.0"),
    ("Creative Commons Attribution-ShareAlike 4.0 International", "CC-BY-SA-4.0"),
    ("Creative Commons Attribution 2.5 Generic", "CC-BY-2.5"),
    ("Creative Commons Attribution-Noncommercial-Share Alike 2.5 Spain License", "LicenseRef-CC-BY-NC-SA-2.5-ES"),
    ("Attribution", "LicenseRef-CC-BY"),  # no version given: it is CC BY, which deed is not known
    ("Public Domain Mark 1.0", "LicenseRef-PDM-1.0"),
    ("CC0 1.0 Universal", "CC0-1.0"),
    ("Free Art License", "LAL-1.3"),
    # short names (tags, tables)
    ("CC BY-SA 4.0", "CC-BY-SA-4.0"),
    ("CC-BY-NC-ND-3.0", "CC-BY-NC-ND-3.0"),
    ("cc-by-nc", "LicenseRef-CC-BY-NC"),
    ("by-nc-sa 3.0", "CC-BY-NC-SA-3.0"),
    ("CC0", "CC0-1.0"),
    ("Creative Commons Attribution 3.0 license", "CC-BY-3.0"),  # the LICENSE tag of the Sintel trailer
    ("Public domain", "LicenseRef-Public-Domain"),
    # all rights reserved, as copyright notices say it
    ("All Rights Reserved", "LicenseRef-All-Rights-Reserved"),
    ("© 2011 Artist. All rights reserved.", "LicenseRef-All-Rights-Reserved"),
    ("(c) 2009 Some Label", "LicenseRef-All-Rights-Reserved"),
    ("℗ 2015 XL Recordings", "LicenseRef-All-Rights-Reserved"),
    ("Copyright 2003 The Band", "LicenseRef-All-Rights-Reserved"),
    ("Tous droits réservés", "LicenseRef-All-Rights-Reserved"),
]


@pytest.mark.parametrize("text, expected", SPELLINGS, ids=[s for s, _ in SPELLINGS])
def test_real_world_spellings(text: str, expected: str) -> None:
    found = normalise(text)
    assert found.id == expected
    assert found.raw == text  # the source's own words are kept
    reserved = expected == "LicenseRef-All-Rights-Reserved"
    assert found.redistributable is not reserved
    assert found.attribution_required is ("BY" in expected or expected == "LAL-1.3" or "Sampling" in expected)


def test_at_least_twenty_spellings_of_cc_and_all_rights_reserved() -> None:
    cc = [s for s, e in SPELLINGS if "CC" in e]
    reserved = [s for s, e in SPELLINGS if e == "LicenseRef-All-Rights-Reserved"]
    assert len(cc) >= 20 and len(reserved) >= 5


def test_deed_urls_of_normalised_licences() -> None:
    assert normalise("CC BY-NC-SA 3.0 United States").url == "https://creativecommons.org/licenses/by-nc-sa/3.0/us/"
    assert normalise("cc0").url == "https://creativecommons.org/publicdomain/zero/1.0/"
    assert normalise("All rights reserved").url is None
    assert normalise("CC-BY-4.0").name == "CC BY 4.0"


@pytest.mark.parametrize("text", [None, "", "   ", "some words", "GPL-ish", 42])
def test_text_that_names_no_licence_is_unknown(text: object) -> None:
    found = normalise(text)
    assert found.id == "LicenseRef-Unknown" and not found.known and not found.redistributable


def test_default_policy_publishes_only_what_allows_redistribution() -> None:
    policy = ReleasePolicy.from_config({})
    assert policy.allows("CC-BY-NC-ND-3.0-US") and policy.allows("CC0-1.0") and policy.allows("LicenseRef-PDM-1.0")
    assert not policy.allows("LicenseRef-All-Rights-Reserved")
    assert not policy.allows(None) and not policy.allows("LicenseRef-Unknown")  # unknown: not published
    assert "not in this archive's [release] licences" in policy.reason(None)


def test_operator_policies() -> None:
    opted_in = ReleasePolicy.from_config({"release": {"licences": ["redistributable", "unknown"]}})
    assert opted_in.allows(None) and not opted_in.allows("LicenseRef-All-Rights-Reserved")
    commercial = ReleasePolicy.from_config({"release": {"licences": ["CC0-1.0", "CC-BY-4.0", "CC-BY-SA-*"]}})
    assert commercial.allows("CC-BY-SA-3.0-US") and commercial.allows("CC0-1.0")
    assert not commercial.allows("CC-BY-NC-4.0") and not commercial.allows(None)
    assert ReleasePolicy.from_config({"release": {"licences": ["*"]}}).allows("LicenseRef-All-Rights-Reserved")


@pytest.mark.parametrize("section", [{"licences": 3}, {"licences": [""]}, {"licences": [1, 2]}, "not a table"])
def test_bad_release_settings_are_refused(section: object) -> None:
    with pytest.raises(FonotecaError, match=r"\[release\]"):
        ReleasePolicy.from_config({"release": section})
