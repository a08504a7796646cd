"""The OpenAPI document says what API keys get: accepted (`X-API-Key`) wherever a signed-in
caller is, refused with a documented 403 by the operations that manage the account."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers.http import API, sign_up


async def test_the_document_lists_keys_where_they_work_and_their_403_where_refused(
    client: httpx.AsyncClient,
) -> None:
    schema: dict[str, Any] = (await client.get("/openapi.json")).json()
    scheme = schema["components"]["securitySchemes"]["APIKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    paths = schema["paths"]

    def operation(method: str, path: str) -> dict[str, Any]:
        found: dict[str, Any] = paths[f"{API}{path}"][method]
        return found

    accepted = operation("get", "/user/me/")
    assert {"APIKey": []} in accepted["security"]
    assert "403" not in accepted["responses"]

    owner = await sign_up(client, "owner")
    created = await client.post(f"{API}/user/me/api-keys", json={"name": "ci"}, headers=owner)
    key = {"X-API-Key": created.json()["key"]}
    refused = [
        ("get", "/user/me/sessions"),
        ("delete", "/user/me/sessions"),
        ("post", "/user/me/password"),
        ("post", "/user/me/api-keys"),
    ]
    for method, path in refused:
        documented = operation(method, path)
        assert {"APIKey": []} not in documented["security"], path
        assert "403" in documented["responses"], path
        answer = await client.request(method.upper(), f"{API}{path}", headers=key, json={})
        assert answer.status_code == 403, (path, answer.text)
    assert (await client.get(f"{API}/user/me/", headers=key)).status_code == 200
