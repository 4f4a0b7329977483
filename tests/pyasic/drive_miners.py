"""Drives simulated miners with pyasic, a miner client nobody here wrote.

Usage: drive_miners.py SPEED IP [IP ...]
Each IP serves one simulated Antminer S19j Pro (LuxOS dialect) on port 4028, its clock running
SPEED times faster than the wall clock. For each miner: pyasic discovers it (get_miner),
reads watts, pauses and resumes it, and sets a power limit; hashrate is read through the raw
RPC (pyasic 0.79's LuxOS class returns no hashrate). Prints one JSON line per miner and exits
non-zero on the first failed check.
"""

import asyncio
import json
import sys

from pyasic import get_miner


async def settle(simulated_seconds: float, speed: float) -> None:
    await asyncio.sleep(simulated_seconds / speed + 0.05)


async def drive(ip: str, speed: float) -> dict:
    miner = await get_miner(ip)
    assert miner is not None, f"{ip}: pyasic found no miner"
    kind = type(miner).__name__
    assert "LUX" in kind.upper(), f"{ip}: pyasic took it for {kind}"
    out = {"ip": ip, "class": kind, "model": miner.model}

    out["watts_running"] = await miner.get_wattage()
    assert 2700 <= out["watts_running"] <= 3000, out
    summary = await miner.rpc.summary()
    out["ghs_running"] = summary["SUMMARY"][0]["GHS 5s"]
    assert out["ghs_running"] > 85_000, out

    assert await miner.stop_mining(), f"{ip}: stop_mining failed"
    await settle(10, speed)  # sleep latency 5 s
    out["watts_asleep"] = await miner.get_wattage()
    out["state_asleep"] = (await miner.rpc.config())["CONFIG"][0]["CurtailMode"]
    assert out["watts_asleep"] < 50 and out["state_asleep"] == "Sleep", out
    assert (await miner.rpc.summary())["SUMMARY"][0]["GHS 5s"] == 0

    assert await miner.resume_mining(), f"{ip}: resume_mining failed"
    await settle(60, speed)  # wake latency 30 s, then the ramp to the active profile
    out["watts_resumed"] = await miner.get_wattage()
    out["state_resumed"] = (await miner.rpc.config())["CONFIG"][0]["CurtailMode"]
    assert out["watts_resumed"] > 2700 and out["state_resumed"] == "None", out

    assert await miner.set_power_limit(2400), f"{ip}: set_power_limit failed"
    await settle(30, speed)
    # get_wattage_limit() alone returns None for LuxOS in 0.79 (it needs config and profiles
    # together); get_data fetches both in one multicommand.
    data = await miner.get_data(include=["wattage_limit", "wattage"])
    out["limit"] = data.wattage_limit
    out["watts_limited"] = data.wattage
    assert out["limit"] <= 2400, out
    assert abs(out["watts_limited"] - out["limit"]) < 0.05 * out["limit"], out
    out["ghs_limited"] = (await miner.rpc.summary())["SUMMARY"][0]["GHS 5s"]
    assert out["ghs_limited"] < out["ghs_running"], out
    return out


async def main() -> None:
    speed = float(sys.argv[1])
    for ip in sys.argv[2:]:
        print(json.dumps(await drive(ip, speed)), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
