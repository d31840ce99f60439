import json, sys, time
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
tg, tw = FakeTelegram().start(), FakeTwilio().start()
print(json.dumps({"tg": tg.api_url, "tw": tw.base_url}), flush=True)
last = None
while True:
    time.sleep(1)
    now = (len(tg.sent()), len(tw.sent()), [ (s.chat_id, s.text[:30]) for s in tg.sent()], [(m.to, m.body[:30]) for m in tw.sent()])
    if now != last:
        print(json.dumps(now), flush=True); last = now
