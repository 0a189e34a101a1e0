"""The vfio-v2 model: its verdicts on a small instance, the speed of every flawed variant's
shortest counterexample at the default instance, and the sources `migcheck list` shows."""

from __future__ import annotations

import time

import pytest

from migcheck.checker.explicit import explore
from migcheck.cli import describe
from migcheck.models.library import bundled
from migcheck.models.model import build

VFIO = bundled("vfio-v2")
FLAWED = [(name, prop) for name, cls in VFIO.variants().items()
          for prop, verdict in cls.expect.items() if verdict == "violated"]


def test_qemu_order_on_one_device_and_one_page():
    system = build(VFIO, {"devs": 1, "pages": 1})
    result = explore(system)
    # with one device there is no peer: the P2P property holds only because nothing happens
    assert {k: v.verdict for k, v in result.verdicts.items() if v.verdict != "holds"} \
        == {"p2p-quiescence": "vacuous", "p2p-when-pausing": "violated"}


@pytest.mark.parametrize("name", ["harvest-before-stop", "no-iotlb-flush", "unmap-loses-bits",
                                  "precopy-data-final", "track-after-first-copy"])
def test_data_loss_variants_lose_a_page_or_a_device_state_with_one_device(name):
    system = build(VFIO.variants()[name], {"devs": 1, "pages": 1})
    assert explore(system, properties=["completeness"]).verdicts["completeness"].verdict == "violated"


def test_every_variant_names_its_source():
    listed = describe(VFIO)["variants"]
    assert len(listed) == 13
    assert all(v.get("source") for v in listed)


@pytest.mark.slow
@pytest.mark.parametrize("name, prop", FLAWED, ids=[f"{n}-{p}" for n, p in FLAWED])
def test_each_flaw_is_found_at_the_default_instance_in_under_ten_seconds(name, prop):
    started = time.monotonic()
    verdict = explore(build(VFIO.variants()[name]), properties=[prop]).verdicts[prop]
    assert verdict.verdict == "violated"
    assert time.monotonic() - started < 10
