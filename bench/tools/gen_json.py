#!/usr/bin/env python3
"""bench/tools/gen_json.py — the JSON arena's field-shaped documents, written
deterministically (a fixed seed and no clock: the same bytes on every machine
and Python >= 3.8), so that weft and every peer parse the same files and a
later run can check it parsed the same ones (bench/run-json.sh records each
file's size and sha256).

    python3 bench/tools/gen_json.py twitter|citm|canada FILE

The three documents are shaped like the standard documents of JSON parser
benchmarks (nativejson-benchmark, simdjson, serde-rs/json-benchmark); they are
our own synthetic data, not copies. What each keeps of its model:

  twitter  like twitter.json (a search API reply, ~632 KB, pretty-printed
           with 2-space indentation): {"statuses": [...], "search_metadata"}
           whose statuses nest a user object (~40 fields), entities (arrays of
           url / mention / media objects with "indices" pairs), sometimes a
           whole retweeted status; many strings, mostly Japanese text with
           emoji (3- and 4-byte UTF-8), escaped newlines and quotes, HTML in
           "source"; ids above 2^53 (exact only as integers) beside their
           "id_str" strings; booleans and nulls.
  citm     like citm_catalog.json (a ticketing catalogue, ~1.7 MB,
           pretty-printed): maps from numeric-string ids to names (French,
           some accented letters), and a large "performances" array of small
           objects that repeat the same keys (eventId, id, prices[{amount,
           audienceSubCategoryId, seatCategoryId}], seatCategories[{areas[
           {areaId, blockIds}], seatCategoryId}], start, venueCode); almost
           all numbers are integers (9-digit ids, 13-digit millisecond times).
  canada   like canada.json (one GeoJSON Polygon feature, ~2.2 MB): rings of
           [lon, lat] pairs whose doubles carry 15-17 significant digits
           ("-65.61361699999998"), the float-conversion case; almost nothing
           but numbers.

Sizes are close to the models' (within a few %), not equal; the exact byte
counts and sha256 go into every results file.
"""
import json
import random
import sys

SEED = 13  # issue 13

JA = ("名前 第一印象 今の印象 とりあえず 好きなところ 思い出 交換できる 一言 お前は 一生もんの "
      "えっそれは 一同 朝一 辛目だよ 野球部 マネージャー 最高の夏を ありがとう 無言フォロー "
      "あまり好みません ゲームと動画が 好きです よろしく 最近は プレイしてます 関西 詳しい "
      "プリキュア 好きの サラリーマンです ご質問 お問い合わせは こちら 静岡県 東京 大阪 今日 "
      "明日 本当に すごい かわいい ラーメン 食べたい 電車 遅延 雨 晴れ 天気 新曲 ライブ 参加").split()
EMOJI = ["😋", "✨", "😊", "❤️", "✋", "😘", "💖", "🎉", "🙏", "😂", "👍", "🔥", "🌸", "⚾"]
EN = ("the a new today great love thanks follow check out this video live now game music "
      "photo happy weekend morning night free win tickets update story news").split()
FR = ("Arrière-scène central 1er balcon 2ème Balcon bis Grande salle Orchestre Parterre Loge "
      "Corbeille Fauteuil côté cour côté jardin Catégorie Concert Opéra Récital Théâtre "
      "Danse Musique de chambre Orchestre symphonique Jeune public Famille Découverte").split()
SOURCES = [
    '<a href="http://twitter.com/download/iphone" rel="nofollow">Twitter for iPhone</a>',
    '<a href="http://twitter.com/download/android" rel="nofollow">Twitter for Android</a>',
    '<a href="http://twitter.com" rel="nofollow">Twitter Web Client</a>',
    '<a href="http://jigtwi.jp/?p=1" rel="nofollow">jigtwi for Android</a>',
]
DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def created_at(r):
    return (f"{r.choice(DAYS)} {r.choice(MONTHS)} {r.randint(1, 28):02d} "
            f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d} +0000 {r.randint(2007, 2014)}")


def ja_text(r, words):
    out = []
    for _ in range(words):
        x = r.random()
        if x < 0.6:
            out.append(r.choice(JA))
        elif x < 0.75:
            out.append(r.choice(EMOJI))
        elif x < 0.9:
            out.append(r.choice(EN))
        elif x < 0.95:
            out.append("\n")
        else:
            out.append('"' + r.choice(JA) + '"')
    return "".join(w if w == "\n" else w + r.choice(["", " ", ""]) for w in out)


def screen_name(r):
    return "".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789_") for _ in range(r.randint(5, 14)))


def tco(r):
    return "http://t.co/" + "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                                    for _ in range(10))


def url_entity(r, start):
    host = r.choice(["twpf.jp", "ask.fm", "pixiv.net", "ameblo.jp", "youtube.com", "instagram.com"])
    path = screen_name(r)
    return {"url": tco(r), "expanded_url": f"http://{host}/{path}", "display_url": f"{host}/{path}",
            "indices": [start, start + 22]}


def user(r):
    uid = r.randint(10**7, 3 * 10**9)
    sn = screen_name(r)
    has_url = r.random() < 0.4
    img = r.randint(10**17, 6 * 10**17)
    u = {
        "id": uid, "id_str": str(uid), "name": ja_text(r, r.randint(1, 3)).strip() or sn,
        "screen_name": sn, "location": r.choice(["", "", "東京", "関西    ↓詳しいプロ↓", "静岡県長泉町", "Osaka, Japan"]),
        "description": ja_text(r, r.randint(0, 24)),
        "url": tco(r) if has_url else None,
        "entities": ({"url": {"urls": [url_entity(r, 0)]}} if has_url else {}) |
                    {"description": {"urls": [url_entity(r, r.randint(0, 80)) for _ in range(r.choice([0, 0, 0, 1, 2]))]}},
        "protected": False, "followers_count": r.randint(0, 50000), "friends_count": r.randint(0, 5000),
        "listed_count": r.randint(0, 200), "created_at": created_at(r), "favourites_count": r.randint(0, 20000),
        "utc_offset": r.choice([None, 32400, -36000]), "time_zone": r.choice([None, "Tokyo", "Osaka", "Hawaii"]),
        "geo_enabled": r.random() < 0.3, "verified": False, "statuses_count": r.randint(1, 100000),
        "lang": r.choice(["ja", "ja", "ja", "en"]), "contributors_enabled": False, "is_translator": False,
        "is_translation_enabled": False, "profile_background_color": r.choice(["C0DEED", "000000", "FFFFFF", "ACDED6"]),
        "profile_background_image_url": "http://abs.twimg.com/images/themes/theme1/bg.png",
        "profile_background_image_url_https": "https://abs.twimg.com/images/themes/theme1/bg.png",
        "profile_background_tile": r.random() < 0.2,
        "profile_image_url": f"http://pbs.twimg.com/profile_images/{img}/{screen_name(r)}_normal.jpeg",
        "profile_image_url_https": f"https://pbs.twimg.com/profile_images/{img}/{screen_name(r)}_normal.jpeg",
        "profile_banner_url": f"https://pbs.twimg.com/profile_banners/{uid}/{r.randint(1300000000, 1409999999)}",
        "profile_link_color": "0084B4", "profile_sidebar_border_color": "C0DEED",
        "profile_sidebar_fill_color": "DDEEF6", "profile_text_color": "333333",
        "profile_use_background_image": True, "default_profile": r.random() < 0.5,
        "default_profile_image": False, "following": False, "follow_request_sent": False, "notifications": False,
    }
    return u


def media(r, sid):
    mid = sid - r.randint(1, 10**6)
    sizes = {k: {"w": w, "h": h, "resize": rz} for k, w, h, rz in
             (("medium", 600, r.randint(300, 800), "fit"), ("small", 340, r.randint(190, 450), "fit"),
              ("thumb", 150, 150, "crop"), ("large", r.randint(700, 1024), r.randint(400, 1024), "fit"))}
    key = "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") for _ in range(15))
    return {"id": mid, "id_str": str(mid), "indices": [r.randint(0, 60), r.randint(61, 140)],
            "media_url": f"http://pbs.twimg.com/media/{key}.jpg", "media_url_https": f"https://pbs.twimg.com/media/{key}.jpg",
            "url": tco(r), "display_url": "pic.twitter.com/" + key[:10],
            "expanded_url": f"http://twitter.com/{screen_name(r)}/status/{sid}/photo/1", "type": "photo", "sizes": sizes}


def status(r, nested=True):
    sid = r.randint(5 * 10**17, 51 * 10**16)  # above 2^53
    reply = r.random() < 0.3
    s = {
        "metadata": {"result_type": "recent", "iso_language_code": r.choice(["ja", "ja", "ja", "en"])},
        "created_at": created_at(r), "id": sid, "id_str": str(sid),
        "text": ("@" + screen_name(r) + " " if reply else "") + ja_text(r, r.randint(3, 30)),
        "source": r.choice(SOURCES), "truncated": False,
        "in_reply_to_status_id": sid - 10**6 if reply else None,
        "in_reply_to_status_id_str": str(sid - 10**6) if reply else None,
        "in_reply_to_user_id": r.randint(10**7, 3 * 10**9) if reply else None,
        "in_reply_to_user_id_str": None, "in_reply_to_screen_name": screen_name(r) if reply else None,
        "user": user(r), "geo": None, "coordinates": None, "place": None, "contributors": None,
    }
    s["in_reply_to_user_id_str"] = str(s["in_reply_to_user_id"]) if reply else None
    if nested and r.random() < 0.35:
        s["retweeted_status"] = status(r, nested=False)
    ents = {"hashtags": [{"text": r.choice(JA), "indices": [r.randint(0, 50), r.randint(51, 90)]}
                         for _ in range(r.choice([0, 0, 0, 1, 2]))],
            "symbols": [], "urls": [url_entity(r, r.randint(0, 100)) for _ in range(r.choice([0, 0, 1]))],
            "user_mentions": [{"screen_name": screen_name(r), "name": ja_text(r, 2).strip() or "x",
                               "id": (m := r.randint(10**7, 3 * 10**9)), "id_str": str(m),
                               "indices": [r.randint(0, 20), r.randint(21, 40)]}
                              for _ in range(r.choice([0, 1, 1, 2]))]}
    if r.random() < 0.25:
        ents["media"] = [media(r, sid)]
    s |= {"retweet_count": r.randint(0, 500), "favorite_count": r.randint(0, 300), "entities": ents,
          "favorited": False, "retweeted": False}
    if r.random() < 0.3:
        s["possibly_sensitive"] = False
    s["lang"] = s["metadata"]["iso_language_code"]
    return s


def gen_twitter(r, target=632_000):
    statuses = []
    doc = {"statuses": statuses}
    size = 0
    while size < target - 2_000:
        st = status(r)
        statuses.append(st)
        size += len(json.dumps(st, ensure_ascii=False, indent=2).encode()) + 8
    # the estimate above misses the nesting's indentation: drop statuses
    # from the end until the whole fits
    while len(json.dumps(doc, ensure_ascii=False, indent=2).encode()) > target - 700:
        statuses.pop()
    mx = max(s["id"] for s in statuses)
    doc["search_metadata"] = {"completed_in": 0.087, "max_id": mx, "max_id_str": str(mx),
                              "next_results": f"?max_id={mx - 1}&q=%E4%B8%80&count={len(statuses)}&include_entities=1",
                              "query": "%E4%B8%80", "refresh_url": f"?since_id={mx}&q=%E4%B8%80&include_entities=1",
                              "count": len(statuses), "since_id": 0, "since_id_str": "0"}
    return json.dumps(doc, ensure_ascii=False, indent=2)


def fr_name(r, words):
    return " ".join(r.choice(FR) for _ in range(words))


def gen_citm(r, target=1_727_000):
    ids = lambda n, lo: sorted(r.sample(range(lo, lo + 10**7), n))
    area = ids(180, 205705000)
    audience = ids(3, 337100000)
    seatcat = ids(64, 338937000)
    subtopic = ids(20, 337184000)
    topic = ids(30, 107888000)
    venue = ["PLEYEL_PLEYEL", "SALLE_GAVEAU", "CHATELET", "OPERA_BASTILLE", "PHILHARMONIE"]
    doc = {
        "areaNames": {str(a): fr_name(r, r.randint(1, 4)) for a in area},
        "audienceSubCategoryNames": {str(a): r.choice(["Abonné", "Public", "Jeune"]) for a in audience},
        "blockNames": {},
        "events": {},
        "performances": [],
        "seatCategoryNames": {str(s): fr_name(r, r.randint(1, 3)) for s in seatcat},
        "subTopicNames": {str(s): fr_name(r, r.randint(1, 3)) for s in subtopic},
        "subjectNames": {},
        "topicNames": {str(t): fr_name(r, r.randint(1, 3)) for t in topic},
        "topicSubTopics": {str(t): r.sample(subtopic, r.randint(1, 4)) for t in topic},
        "venueNames": {v: v.replace("_", " ").title() for v in venue},
    }
    events = ids(180, 138586000)
    for e in events:
        doc["events"][str(e)] = {"description": None, "id": e, "logo": r.choice([None, f"/images/UE0AAAAA{e}"]),
                                 "name": fr_name(r, r.randint(1, 5)), "subTopicIds": r.sample(subtopic, r.randint(1, 5)),
                                 "subjectCode": None, "subtitle": None, "topicIds": r.sample(topic, r.randint(1, 3))}
    pid = 339187000
    size = len(json.dumps(doc, ensure_ascii=False, indent=4).encode())
    while size < target:
        pid += r.randint(1, 50)
        cats = r.sample(seatcat, r.randint(1, 4))
        p = {"eventId": r.choice(events), "id": pid, "logo": None, "name": None,
             "prices": [{"amount": r.choice([10000, 19000, 28500, 47500, 66500, 90250]),
                         "audienceSubCategoryId": r.choice(audience), "seatCategoryId": c} for c in cats],
             "seatCategories": [{"areas": [{"areaId": a, "blockIds": []} for a in r.sample(area, r.randint(1, 12))],
                                 "seatCategoryId": c} for c in cats],
             "seatMapImage": None, "start": 1372701600000 + r.randint(0, 40_000_000) * 1000,
             "venueCode": r.choice(venue)}
        doc["performances"].append(p)
        size += len(json.dumps(p, ensure_ascii=False, indent=4).encode()) + 10
    # the estimate misses the nesting's indentation: trim to the target
    perf = doc["performances"]
    text = json.dumps(doc, ensure_ascii=False, indent=4)
    if len(text.encode()) > target:
        del perf[int(len(perf) * target / len(text.encode())) + 1:]
        text = json.dumps(doc, ensure_ascii=False, indent=4)
    while len(text.encode()) > target:
        perf.pop()
        text = json.dumps(doc, ensure_ascii=False, indent=4)
    return text


def coord(r, x):
    # a value that was a 6-decimal number before a float computation touched
    # it: printed with %.17g it carries 15-17 significant digits
    return float(f"{x + r.choice((-1, 1)) * r.randint(1, 900) * 1e-15:.17g}")


def gen_canada(r, target=2_251_000):
    rings = []
    out = ['{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Canada"},'
           '"geometry":{"type":"Polygon","coordinates":[']
    size = len(out[0])
    first_ring = True
    while size < target - 100:
        lon, lat = r.uniform(-141, -52), r.uniform(42, 83)
        pts = []
        for _ in range(r.randint(8, 400)):
            lon += r.uniform(-0.05, 0.05)
            lat += r.uniform(-0.03, 0.03)
            pts.append((round(lon, 6), round(lat, 6)))
        pts.append(pts[0])
        ring = "[" + ",\n".join(f"[{coord(r, a)!r},{coord(r, b)!r}]" for a, b in pts) + "]"
        ring = ("" if first_ring else ",") + ring
        first_ring = False
        rings.append(ring)
        size += len(ring)
    out.extend(rings)
    out.append("]}}]}")
    return "".join(out)


def main():
    kinds = {"twitter": gen_twitter, "citm": gen_citm, "canada": gen_canada}
    if len(sys.argv) != 3 or sys.argv[1] not in kinds:
        print("usage: gen_json.py twitter|citm|canada FILE", file=sys.stderr)
        return 2
    text = kinds[sys.argv[1]](random.Random(SEED))
    json.loads(text)  # the output must be valid JSON
    with open(sys.argv[2], "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
