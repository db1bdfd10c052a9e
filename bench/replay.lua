-- Replays one pre-signed request (a SigV4 signature is valid for 15 minutes) for read workloads.
-- The request is the file named by $BENCH_REQUEST, written by `kp.py sign`: the method, the
-- path, `Name: value` header lines, a blank line, then the body.

local here = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"

local f = assert(io.open(assert(os.getenv("BENCH_REQUEST"), "BENCH_REQUEST is not set"), "rb"))
local text = f:read("*a")
f:close()
local head, body = string.match(text, "^(.-)\n\n(.*)$")
local lines = {}
for line in string.gmatch(head, "[^\n]+") do table.insert(lines, line) end
wrk.method = lines[1]
wrk.path = lines[2]
for i = 3, #lines do
  local name, value = string.match(lines[i], "^([^:]+): (.*)$")
  wrk.headers[name] = value
end
wrk.body = body

dofile(here .. "lib.lua")
