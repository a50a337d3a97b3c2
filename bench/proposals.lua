-- wrk script for P1: POST a ReceiptAttachmentProposed per request, each one different.
--
-- Usage (bench/run.py builds this command line):
--   wrk -t2 -c64 -d20s -s bench/proposals.lua -H "Authorization: Bearer $TOKEN" \
--       http://127.0.0.1:PORT -- <run-nonce>
-- The run nonce keeps proposals of different runs (warm-up, main) from colliding.
-- done() prints one line "BENCH_RESULT {json}" with counts per HTTP status and latency
-- percentiles in microseconds, for the runner to parse, then one line
-- "BENCH_SAMPLE <status> <body>" per non-2xx status: the first such answer's body.

local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

local path = "/api/book-keeper/v1/events"
local nonce = "run"
local thread_id = 0
local n = 0
statuses = {}
samples = {}

-- "new" (default): a new merchant every time; "realistic": a third the same cafe's 45 kr
-- coffee on a few days (duplicate suspicion), a third one of 500 recurring merchants, a
-- third new merchants (ADR 0039).
local mix = "new"

function init(args)
  if args[1] ~= nil then nonce = args[1] end
  if args[2] ~= nil then mix = args[2] end
  thread_id = id
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  if mix == "realistic" and n % 3 ~= 2 then
    local merchant, amount
    if n % 3 == 0 then
      merchant, amount = "Kaffebrenneriet Grunerlokka", "45.00"
    else
      merchant = string.format("Recurring Supplier %d", (n * 7 + thread_id) % 500)
      amount = string.format("%d.%02d", 100 + (n * 13) % 900, n % 100)
    end
    local body = string.format(
      '{"type":"ReceiptAttachmentProposed","data":{"merchantName":"%s",' ..
      '"amount":"%s","date":"2026-03-%02d","vatRate":"25","accountCode":"6540",' ..
      '"folioEventId":"ev-%s-%d-%d"}}',
      merchant, amount, 1 + n % 28, nonce, thread_id, n)
    return wrk.format(nil, path, nil, body)
  end
  local body = string.format(
    '{"type":"ReceiptAttachmentProposed","data":{"merchantName":"Merchant %s-%d-%d",' ..
    '"amount":"%d.%02d","date":"2026-%02d-%02d","vatRate":"25","accountCode":"6540",' ..
    '"folioEventId":"ev-%s-%d-%d"}}',
    nonce, thread_id, n,
    100 + (n * 7 + thread_id) % 9000, n % 100,
    1 + n % 12, 1 + n % 28,
    nonce, thread_id, n)
  return wrk.format(nil, path, nil, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if (status < 200 or status > 299) and samples[status] == nil then
    samples[status] = string.sub(string.gsub(body or "", "[\r\n]", " "), 1, 500)
  end
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, count in pairs(counts) do
      merged[status] = (merged[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(merged) do
    table.insert(parts, string.format('"%d":%d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"statuses":{%s},' ..
    '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, table.concat(parts, ","),
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
  local shown = {}
  for _, thread in ipairs(threads) do
    for status, body in pairs(thread:get("samples")) do
      if not shown[status] then
        shown[status] = true
        io.write(string.format("BENCH_SAMPLE %d %s\n", status, body))
      end
    end
  end
end
