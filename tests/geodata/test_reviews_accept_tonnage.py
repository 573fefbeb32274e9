"""The accept-tonnage decision: recorded, read back and offered on the review page like the others."""

from residua.geodata.reviews import append_review, read_reviews
from residua.geodata.vocabulary import page_vocabulary


def test_accept_tonnage_is_recorded_and_read_back(tmp_path):
    path = tmp_path / "reviews.csv"
    assert append_review(path, "RM-001", " Accept-Tonnage ", "2021 raise not in the report", "A. Rao")["decision"] == (
        "accept-tonnage"
    )
    accepted, rejected = read_reviews(path)
    assert accepted["decision"].tolist() == ["accept-tonnage"] and rejected.empty


def test_the_review_page_offers_accept_tonnage():
    decisions = {d["code"]: d["label"] for d in page_vocabulary()["decisions"]}
    assert decisions["accept-tonnage"] == "Accept tonnage"
