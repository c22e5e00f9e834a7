-- web_upload.lua - wrk script for bench/web_bench.sh: POSTs multipart uploads
-- (field inputfile) of the photos listed in a file, one per request in turn,
-- and counts answers other than 200.
--   wrk -s bench/web_upload.lua URL/api/v1/predict -- LIST_FILE
local boundary = "----catdogbench7MA4YWxkTrZu0gW"
local bodies = {}
local n = 0
local non200 = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local list = assert(io.open(args[1], "r"))
  for path in list:lines() do
    local f = assert(io.open(path, "rb"))
    local data = f:read("*a")
    f:close()
    local name = path:match("[^/]+$")
    bodies[#bodies + 1] = "--" .. boundary .. "\r\n" ..
      "Content-Disposition: form-data; name=\"inputfile\"; filename=\"" .. name .. "\"\r\n" ..
      "Content-Type: image/jpeg\r\n\r\n" .. data .. "\r\n--" .. boundary .. "--\r\n"
  end
  list:close()
  assert(#bodies > 0, "no photos listed in " .. args[1])
  n = math.random(#bodies)
end

function request()
  n = n % #bodies + 1
  return wrk.format("POST", nil, { ["Content-Type"] = "multipart/form-data; boundary=" .. boundary }, bodies[n])
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non200") or 0)
  end
  io.write(string.format("RESULT requests=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f non200=%d errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, bad,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
