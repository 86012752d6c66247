"""Catalog: merchants, categories, products with SKUs, publishing, public listing and scope."""

from __future__ import annotations

from typing import Any

from tests.factories import make_shop


def product_body(title: str = "Silk scarf", **extra: Any) -> dict[str, Any]:
    return {
        "title": title,
        "description": "Hand-rolled edges",
        "image_urls": ["https://img.example.com/scarf.jpg"],
        "audience": {
            "gender": "female",
            "age_bands": ["25-34", "18-24"],
            "city_tiers": [1, 2],
            "interest_tags": [" Fashion ", "gifts"],
        },
        "skus": [
            {"code": "RED-M", "attributes": {"colour": "red", "size": "M"}, "price_minor": 12900},
            {"code": "BLUE-M", "attributes": {"colour": "blue", "size": "M"}, "price_minor": 13900},
        ],
        **extra,
    }


async def test_admin_creates_a_merchant_whose_owner_manages_products(client, make_account):
    admin, owner = await make_account("admin"), await make_account("merchant")
    r = await client.post(
        "/admin/merchants",
        json={
            "name": "Lakeside Tea",
            "slug": "lakeside-tea",
            "kind": "factory",
            "city": "Hangzhou",
            "owner_account_id": owner.id,
        },
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    merchant = r.json()
    mine = (await client.get("/merchant/me", headers=owner.headers)).json()
    assert [m["id"] for m in mine] == [merchant["id"]]

    created = await client.post("/merchant/products", json=product_body(), headers=owner.headers)
    assert created.status_code == 201, created.text
    product = created.json()
    assert product["status"] == "draft"
    assert product["merchant_id"] == merchant["id"]
    assert product["price_min_minor"] == 12900 and product["price_max_minor"] == 13900
    assert product["audience"] == {
        "gender": "female",
        "age_bands": ["18-24", "25-34"],
        "city_tiers": [1, 2],
        "interest_tags": ["fashion", "gifts"],
    }
    assert {s["attributes"]["colour"] for s in product["skus"]} == {"red", "blue"}

    # A draft is invisible to the public until published.
    public = await client.get(f"/catalog/products/{product['id']}")
    assert public.status_code == 404
    published = await client.post(
        f"/merchant/products/{product['id']}/publish", headers=owner.headers
    )
    assert published.status_code == 200 and published.json()["status"] == "published"
    assert (await client.get(f"/catalog/products/{product['id']}")).status_code == 200

    unpublished = await client.post(
        f"/merchant/products/{product['id']}/unpublish", headers=owner.headers
    )
    assert unpublished.json()["status"] == "unpublished"
    assert (await client.get(f"/catalog/products/{product['id']}")).status_code == 404


async def test_a_duplicate_merchant_slug_is_a_conflict(client, make_account):
    admin, owner = await make_account("admin"), await make_account("merchant")
    body = {"name": "A", "slug": "same-slug", "kind": "brand", "owner_account_id": owner.id}
    assert (
        await client.post("/admin/merchants", json=body, headers=admin.headers)
    ).status_code == 201
    again = await client.post("/admin/merchants", json=body, headers=admin.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "merchant.slug_taken"


async def test_only_admins_create_merchants(client, make_account):
    merchant = await make_account("merchant")
    r = await client.post(
        "/admin/merchants",
        json={"name": "A", "slug": "a-shop", "kind": "brand", "owner_account_id": merchant.id},
        headers=merchant.headers,
    )
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_publishing_needs_an_active_sku(client, make_account, runtime):
    owner = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=owner.id)
    r = await client.post(
        "/merchant/products",
        json={"merchant_id": shop.merchant_id, "title": "Empty box"},
        headers=owner.headers,
    )
    assert r.status_code == 201
    publish = await client.post(
        f"/merchant/products/{r.json()['id']}/publish", headers=owner.headers
    )
    assert publish.status_code == 422
    assert publish.json()["code"] == "product.no_skus"
    assert publish.json()["errors"][0]["field"] == "skus"


async def test_adding_and_updating_skus_keeps_the_price_range(client, make_account, runtime):
    owner = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=owner.id, prices=(9900,))
    added = await client.post(
        f"/merchant/products/{shop.product_id}/skus",
        json={"code": "GIFT", "attributes": {"pack": "gift box"}, "price_minor": 19900},
        headers=owner.headers,
    )
    assert added.status_code == 201, added.text
    taken = await client.post(
        f"/merchant/products/{shop.product_id}/skus",
        json={"code": "GIFT", "price_minor": 100},
        headers=owner.headers,
    )
    assert taken.status_code == 409 and taken.json()["code"] == "sku.code_taken"
    patched = await client.patch(
        f"/merchant/skus/{added.json()['id']}", json={"price_minor": 5900}, headers=owner.headers
    )
    assert patched.status_code == 200 and patched.json()["price_minor"] == 5900
    product = (await client.get(f"/catalog/products/{shop.product_id}")).json()
    assert (product["price_min_minor"], product["price_max_minor"]) == (5900, 9900)


async def test_another_merchants_product_is_a_404(client, make_account, runtime):
    m1, m2 = await make_account("merchant"), await make_account("merchant")
    await make_shop(runtime, owner_id=m1.id)
    theirs = await make_shop(runtime, owner_id=m2.id)
    for method, path, body in [
        ("GET", f"/merchant/products/{theirs.product_id}", None),
        ("PATCH", f"/merchant/products/{theirs.product_id}", {"title": "mine now"}),
        ("POST", f"/merchant/products/{theirs.product_id}/unpublish", None),
        ("POST", f"/merchant/products/{theirs.product_id}/skus", {"code": "X", "price_minor": 1}),
        ("PATCH", f"/merchant/skus/{theirs.sku_ids[0]}", {"price_minor": 1}),
    ]:
        r = await client.request(method, path, json=body, headers=m1.headers)
        assert r.status_code == 404, (method, path, r.text)
    listed = (await client.get("/merchant/products", headers=m1.headers)).json()["items"]
    assert theirs.product_id not in {p["id"] for p in listed}
    # Nothing changed.
    product = (await client.get(f"/catalog/products/{theirs.product_id}")).json()
    assert product["status"] == "published" and product["skus"][0]["price_minor"] == 9900


async def test_creating_a_product_for_another_merchant_is_forbidden(client, make_account, runtime):
    m1, m2 = await make_account("merchant"), await make_account("merchant")
    theirs = await make_shop(runtime, owner_id=m2.id)
    await make_shop(runtime, owner_id=m1.id)
    r = await client.post(
        "/merchant/products",
        json=product_body(merchant_id=theirs.merchant_id),
        headers=m1.headers,
    )
    assert r.status_code == 403


async def test_fans_cannot_use_the_merchant_catalog(client, make_account):
    fan = await make_account("fan")
    r = await client.post("/merchant/products", json=product_body(), headers=fan.headers)
    assert r.status_code == 403
    assert r.json()["code"] == "auth.forbidden"


async def test_validation_errors_name_the_field(client, make_account, runtime):
    owner = await make_account("merchant")
    await make_shop(runtime, owner_id=owner.id)
    cases = [
        (product_body(skus=[{"code": "A", "price_minor": 12.5}]), "skus.0.price_minor"),
        (product_body(skus=[{"code": "A", "price_minor": -1}]), "skus.0.price_minor"),
        (product_body(audience={"age_bands": ["young"]}), "audience.age_bands"),
        (product_body(image_urls=["not a url"]), "image_urls.0"),
        (product_body(title=""), "title"),
    ]
    for body, field in cases:
        r = await client.post("/merchant/products", json=body, headers=owner.headers)
        assert r.status_code == 422, r.text
        problem = r.json()
        assert problem["code"] == "request.invalid"
        assert field in [e["field"] for e in problem["errors"]], problem
    listed = (await client.get("/merchant/products", headers=owner.headers)).json()["items"]
    assert len(listed) == 1  # only the shop's own product; nothing half-written


async def test_public_listing_filters_and_pages_with_a_cursor(client, make_account, runtime):
    owner = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=owner.id, prices=(500,))
    shop_title = (await client.get(f"/catalog/products/{shop.product_id}")).json()["title"]
    ids = []
    for i in range(5):
        body = product_body(title=f"Scarf {i}")
        body["skus"] = [{"code": "S", "price_minor": 1000 * (i + 1)}]
        body["merchant_id"] = shop.merchant_id
        if i == 4:
            body["audience"] = {"gender": "male", "interest_tags": ["outdoor"]}
        r = await client.post("/merchant/products", json=body, headers=owner.headers)
        pid = r.json()["id"]
        if i != 3:  # product 3 stays a draft
            await client.post(f"/merchant/products/{pid}/publish", headers=owner.headers)
        ids.append(pid)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, "merchant_id": shop.merchant_id}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/catalog/products", params=params)).json()
        seen += [p["id"] for p in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5  # 4 published scarves + the shop's own product
    assert ids[3] not in seen
    assert pages == 3

    def titles(page: dict[str, Any]) -> set[str]:
        return {p["title"] for p in page["items"]}

    priced = (
        await client.get(
            "/catalog/products",
            params={"merchant_id": shop.merchant_id, "min_price": 2000, "max_price": 3000},
        )
    ).json()
    assert titles(priced) == {"Scarf 1", "Scarf 2"}
    male = (await client.get("/catalog/products", params={"gender": "male"})).json()
    assert titles(male) == {"Scarf 4", shop_title}  # "any" audience matches every gender
    tagged = (await client.get("/catalog/products", params={"tag": "outdoor"})).json()
    assert titles(tagged) == {"Scarf 4"}
    searched = (await client.get("/catalog/products", params={"q": "scarf 2"})).json()
    assert titles(searched) == {"Scarf 2"}

    bad = await client.get("/catalog/products", params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.limit"
    garbage = await client.get("/catalog/products", params={"cursor": "%%%"})
    assert garbage.status_code == 422


async def test_categories_are_admin_managed_and_filter_listing(client, make_account, runtime):
    admin, owner = await make_account("admin"), await make_account("merchant")
    shop = await make_shop(runtime, owner_id=owner.id)
    tea = await client.post(
        "/admin/categories", json={"slug": "tea", "name": "Tea"}, headers=admin.headers
    )
    assert tea.status_code == 201
    green = await client.post(
        "/admin/categories",
        json={"slug": "green-tea", "name": "Green tea", "parent_id": tea.json()["id"]},
        headers=admin.headers,
    )
    assert green.status_code == 201
    no_parent = await client.post(
        "/admin/categories",
        json={"slug": "black-tea", "name": "Black tea", "parent_id": "nope"},
        headers=admin.headers,
    )
    assert no_parent.status_code == 422 and no_parent.json()["code"] == "category.not_found"
    cats = (await client.get("/catalog/categories")).json()
    assert {c["slug"] for c in cats} == {"tea", "green-tea"}

    patched = await client.patch(
        f"/merchant/products/{shop.product_id}",
        json={"category_id": green.json()["id"]},
        headers=owner.headers,
    )
    assert patched.status_code == 200
    listed = (
        await client.get("/catalog/products", params={"category_id": green.json()["id"]})
    ).json()
    assert [p["id"] for p in listed["items"]] == [shop.product_id]
