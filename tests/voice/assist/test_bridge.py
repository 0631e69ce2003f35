"""The bridge's mixing: sums clip instead of wrapping, sources are joined in order then mixed, and a listener's
two tracks pair up as they arrive without one silent side holding the other back."""

from __future__ import annotations

from array import array

from edudesk.voice.assist import bridge
from edudesk.voice.media import Track
from tests.voice.assist.fakes import tone


def values(pcm: bytes) -> list[int]:
    return list(bridge.samples(pcm))


def test_mix_sums_pads_and_clips() -> None:
    assert bridge.mix() == b""
    assert values(bridge.mix(tone(100, 2), tone(-30, 3))) == [70, 70, -30]
    assert values(bridge.mix(tone(30000, 2), tone(10000, 2))) == [32767, 32767]
    assert values(bridge.mix(tone(-30000, 1), tone(-30000, 1), tone(-30000, 1))) == [-32768]
    assert bridge.mix(tone(5, 4)) == tone(5, 4)
    assert values(bridge.mix(b"\x01\x00\x07")) == [1]  # a trailing odd byte is not a sample


def test_gain_clips() -> None:
    assert values(bridge.gain(tone(20000, 2) + tone(-100, 1), 2.0)) == [32767, 32767, -200]
    assert values(bridge.gain(tone(1000, 1), 0.5)) == [500]


def test_mix_sources_joins_each_source_in_order_then_mixes() -> None:
    chunks = [
        bridge.Sourced(tone(10, 2), "agent"),
        bridge.Sourced(tone(1, 3), "supervisor"),
        bridge.Sourced(tone(20, 2), "agent"),
        tone(0, 1),
    ]
    mixed, own = bridge.mix_sources(chunks)
    assert values(own["agent"]) == [10, 10, 20, 20, 0]  # a plain chunk counts as the agent's
    assert values(own["supervisor"]) == [1, 1, 1]
    assert values(mixed) == [11, 11, 21, 20, 0]


def test_track_mixer_pairs_tracks_and_lets_a_lone_track_through() -> None:
    mixer = bridge.TrackMixer(frame_samples=4, max_lag=8)
    assert mixer.push(Track.phone, tone(100, 6)) == []
    out = mixer.push(Track.ours, tone(-50, 4))
    assert [values(f) for f in out] == [[50] * 4]
    # Only the phone side speaks: once it is max_lag ahead it goes out alone, frame by frame.
    out = mixer.push(Track.phone, tone(7, 10))
    assert [len(f) // 2 for f in out] == [4, 4]
    assert values(out[0]) == [100, 100, 7, 7]
    assert array("h", out[1]).tolist() == [7, 7, 7, 7]
