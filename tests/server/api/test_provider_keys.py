"""/api/v1/providers/keys: connect, replace, list (last 4 only), delete."""

from __future__ import annotations

from tests.conftest import Api
from tests.support import data, error

KEYS = "/api/v1/providers/keys"


async def test_replacing_a_key_keeps_its_label_unless_told_otherwise(api: Api) -> None:
    user = await api.register()
    h = user["headers"]
    first = {"provider": "runpod", "api_key": "rp_first_key_1111", "label": "My RunPod"}
    assert data(await api.client.post(KEYS, headers=h, json=first))["label"] == "My RunPod"
    replaced = data(
        await api.client.post(KEYS, headers=h, json={"provider": "runpod", "api_key": "rp_new_2222"})
    )
    assert replaced["label"] == "My RunPod" and replaced["last4"] == "2222"
    cleared = {"provider": "runpod", "api_key": "rp_new_3333", "label": None}
    assert data(await api.client.post(KEYS, headers=h, json=cleared))["label"] is None
    assert [k["provider"] for k in data(await api.client.get(KEYS, headers=h))["keys"]] == ["runpod"]


async def test_pasted_whitespace_is_trimmed_and_unusable_keys_are_refused(api: Api) -> None:
    user = await api.register()
    h = user["headers"]
    pasted = {"provider": "vastai", "api_key": "  vast_key_abcd\n"}
    assert data(await api.client.post(KEYS, headers=h, json=pasted))["last4"] == "abcd"
    for bad in ("vast key with spaces", "vast_kéy_12345", "vast_key\x00123", "\n\n  short\n"):
        msg = error(await api.client.post(KEYS, headers=h, json={"provider": "vastai", "api_key": bad}), 400)
        assert "api_key" in msg and bad.strip() not in msg
    assert data(await api.client.get(KEYS, headers=h))["keys"][0]["last4"] == "abcd"


async def test_keys_are_private_and_delete_is_404_the_second_time(api: Api) -> None:
    alice, bob = await api.register(), await api.register()
    body = {"provider": "lambda", "api_key": "secret_lambda_key_9876"}
    data(await api.client.post(KEYS, headers=alice["headers"], json=body))
    assert data(await api.client.get(KEYS, headers=bob["headers"]))["keys"] == []
    error(await api.client.delete(f"{KEYS}/lambda", headers=bob["headers"]), 404)
    listed = await api.client.get(KEYS, headers=alice["headers"])
    assert "secret_lambda_key" not in listed.text and data(listed)["keys"][0]["last4"] == "9876"
    data(await api.client.delete(f"{KEYS}/lambda", headers=alice["headers"]))
    error(await api.client.delete(f"{KEYS}/lambda", headers=alice["headers"]), 404)
    for provider in ("mock", "aws"):
        error(await api.client.post(KEYS, headers=alice["headers"], json={**body, "provider": provider}), 400)
