import httpx, json, time
from tests.channel_kit import tg_message, wa_form, sign
base = "http://127.0.0.1:8765"
for _ in range(300):
    try:
        r = httpx.get(base + "/health", timeout=5)
        if r.status_code == 200: print("health", r.json()); break
    except Exception: pass
    time.sleep(2)
r = httpx.post(base + "/webhooks/telegram", json=tg_message(4242, "halo"), headers={"X-Telegram-Bot-Api-Secret-Token": "smoke-secret"})
print("tg", r.status_code, r.text)
f = wa_form("+6281299990001", "halo")
r = httpx.post(base + "/webhooks/whatsapp", data=f, headers={"X-Twilio-Signature": sign(f, url="https://bot.desmigras.test/webhooks/whatsapp")})
print("wa", r.status_code, r.text)
r = httpx.post(base + "/webhooks/whatsapp", data=f, headers={"X-Twilio-Signature": "forged"})
print("forged", r.status_code)
time.sleep(4)
print("health", httpx.get(base + "/health").json())
