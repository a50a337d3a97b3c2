"""POST/GET /files over HTTP: type sniffing, the 10 MiB limit, duplicates, tenants, roles.

Most tests run the app on in-memory storage; one runs the same flow on a SQLite file (the
SQL document store and migration 0002) and one on PostgreSQL.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bookkeeper.application.documents import MAX_DOCUMENT_BYTES
from tests.http_helpers import API, Api, running_api, sqlite_container

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256))
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(32)
FILES = f"{API}/files"


def upload_headers(api: Api, content_type: str, **extra: str) -> dict[str, str]:
    return api.agent | {"Content-Type": content_type} | extra


async def upload_and_download(api: Api) -> None:
    created = await api.client.post(
        FILES,
        content=PDF,
        params={"filename": "Kvittering mars.pdf"},
        headers=upload_headers(api, "application/pdf"),
    )
    assert created.status_code == 201, created.text
    sha = hashlib.sha256(PDF).hexdigest()
    assert created.json() == {
        "sha256": sha,
        "size": len(PDF),
        "contentType": "application/pdf",
        "filename": "Kvittering mars.pdf",
        "duplicate": False,
    }

    again = await api.client.post(
        FILES, content=PDF, headers=upload_headers(api, "application/pdf; charset=binary")
    )
    assert again.status_code == 201, again.text
    assert again.json()["duplicate"] is True
    assert again.json()["filename"] == "Kvittering mars.pdf"  # the stored name is kept

    download = await api.client.get(f"{FILES}/{sha}", headers=api.viewer)
    assert download.status_code == 200, download.text
    assert download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"Kvittering mars.pdf\"; filename*=UTF-8''Kvittering%20mars.pdf"
    )
    assert download.headers.get_list("x-content-type-options") == ["nosniff"]
    assert download.headers["cache-control"] == "no-store"

    foreign = await api.client.get(f"{FILES}/{sha}", headers=api.foreigner)
    assert foreign.status_code == 404
    assert foreign.json()["code"] == "not-found"


async def test_a_pdf_is_stored_once_and_served_back_as_an_attachment(api: Api) -> None:
    await upload_and_download(api)


async def test_the_flow_on_a_sqlite_file(tmp_path: Path, sqlite_url: str) -> None:
    async with running_api(tmp_path, container=sqlite_container(tmp_path, sqlite_url)) as api:
        await upload_and_download(api)


@pytest.mark.postgres
async def test_the_flow_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    async with running_api(tmp_path, container=sqlite_container(tmp_path, postgres_url)) as api:
        await upload_and_download(api)


@pytest.mark.parametrize(
    ("content", "declared", "extension"),
    [(JPEG, "image/jpeg", "jpg"), (JPEG, "image/jpg", "jpg"), (PNG, "image/png", "png")],
)
async def test_images_are_accepted_by_their_magic_bytes(
    api: Api, content: bytes, declared: str, extension: str
) -> None:
    created = await api.client.post(
        FILES,
        content=content,
        headers=upload_headers(
            api, declared, **{"Content-Disposition": 'attachment; filename="../../etc/bilde"'}
        ),
    )
    assert created.status_code == 201, created.text
    assert created.json()["filename"] == f"bilde.{extension}"
    assert created.json()["contentType"] == declared.replace("jpg", "jpeg")


async def test_content_disposition_names_in_utf8_are_kept(api: Api) -> None:
    created = await api.client.post(
        FILES,
        content=PDF,
        headers=upload_headers(
            api,
            "application/pdf",
            **{"Content-Disposition": "attachment; filename*=UTF-8''Bl%C3%A5b%C3%A6r%20AS.pdf"},
        ),
    )
    assert created.json()["filename"] == "Blåbær AS.pdf"
    download = await api.client.get(f"{FILES}/{created.json()['sha256']}", headers=api.viewer)
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"Bl_b_r AS.pdf\"; filename*=UTF-8''Bl%C3%A5b%C3%A6r%20AS.pdf"
    )


async def test_the_bytes_decide_over_a_declared_document_type(api: Api) -> None:
    # Issue 13: a PNG called kvittering.pdf (application/pdf from its name) is a PNG.
    created = await api.client.post(
        FILES,
        content=PNG,
        headers=upload_headers(
            api,
            "application/pdf",
            **{"Content-Disposition": 'attachment; filename="kvittering.pdf"'},
        ),
    )
    assert created.status_code == 201, created.text
    assert created.json()["contentType"] == "image/png"
    assert created.json()["filename"].endswith(".png")
    pdf = await api.client.post(FILES, content=PDF, headers=upload_headers(api, "image/png"))
    assert pdf.status_code == 201 and pdf.json()["contentType"] == "application/pdf"


@pytest.mark.parametrize(
    ("content", "declared"),
    [
        (b"<html><script>alert(1)</script></html>", "text/html"),
        (PDF, "text/plain"),
        (b"MZ\x90\x00 an executable", "application/octet-stream"),
        (b"GIF89a....", "image/gif"),
    ],
)
async def test_other_types_are_unsupported(api: Api, content: bytes, declared: str) -> None:
    refused = await api.client.post(FILES, content=content, headers=upload_headers(api, declared))
    assert refused.status_code == 415, refused.text
    assert refused.json()["code"] == "unsupported-media-type"


async def test_an_undeclared_type_is_taken_from_the_content(api: Api) -> None:
    created = await api.client.post(
        FILES, content=PNG, headers=upload_headers(api, "application/octet-stream")
    )
    assert created.status_code == 201
    assert created.json()["contentType"] == "image/png"


async def test_an_empty_body_is_refused(api: Api) -> None:
    refused = await api.client.post(FILES, content=b"", headers=upload_headers(api, "image/png"))
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid-document"


async def test_more_than_10_mib_is_413_and_exactly_10_mib_is_stored(api: Api) -> None:
    largest = PDF + b"\x00" * (MAX_DOCUMENT_BYTES - len(PDF))
    created = await api.client.post(
        FILES, content=largest, headers=upload_headers(api, "application/pdf")
    )
    assert created.status_code == 201, created.text
    assert created.json()["size"] == MAX_DOCUMENT_BYTES

    too_large = await api.client.post(
        FILES, content=largest + b"\x00", headers=upload_headers(api, "application/pdf")
    )
    assert too_large.status_code == 413
    assert too_large.json()["code"] == "payload-too-large"


async def test_roles_and_tokens(api: Api) -> None:
    viewer = await api.client.post(
        FILES, content=PDF, headers=api.viewer | {"Content-Type": "application/pdf"}
    )
    assert viewer.status_code == 403
    anonymous = await api.client.post(
        FILES, content=PDF, headers={"Content-Type": "application/pdf"}
    )
    assert anonymous.status_code == 401
    sha = hashlib.sha256(PDF).hexdigest()
    assert (await api.client.get(f"{FILES}/{sha}")).status_code == 401
    unknown = await api.client.get(f"{FILES}/{sha}", headers=api.viewer)
    assert unknown.status_code == 404
    malformed = await api.client.get(f"{FILES}/not-a-hash", headers=api.viewer)
    assert malformed.status_code == 404


async def test_the_upload_is_documented_as_a_binary_body(api: Api) -> None:
    schema = (await api.client.get("/schema/openapi.json")).json()
    operation = schema["paths"][f"{API}/files"]["post"]
    assert operation["operationId"] == "uploadFile"
    assert set(operation["requestBody"]["content"]) == {
        "application/pdf",
        "application/xml",
        "image/jpeg",
        "image/png",
        "image/heic",
        "image/webp",
    }
    assert {"201", "413", "415", "422"} <= set(operation["responses"])
    assert schema["paths"][f"{API}/files/{{sha256}}"]["get"]["operationId"] == "downloadFile"
