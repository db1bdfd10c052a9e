-- Write workloads: every request carries a new KeyName, so it cannot be signed ahead of time.
-- keypaird runs with --any-credentials for these (moto checks no signature either); the
-- Authorization header is well formed with a dummy signature.
--   wrk ... -s bench/write.lua URL -- import|create-ed25519 TAG
-- The access key ID (BW<tag><imp|ed>T<thread>A<n>) names the account under --any-credentials;
-- it changes every 4,000 requests so no account reaches EC2's quota of 5,000 key pairs per
-- region. Names are w-<tag>-<imp|ed>-<thread>-<counter>; `kp.py stored` counts them afterwards.

local here = string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "./"
dofile(here .. "lib.lua")

-- An ed25519 public key in OpenSSH form, base64-encoded again as the query API wants it.
local PUBLIC_KEY = "c3NoLWVkMjU1MTkgQUFBQUMzTnphQzFsWkRJMU5URTVBQUFBSUtyS00zK0s1RzFHKzBqMk5HN2xF" ..
                   "NkUwdlowc0IwSTZFM0Q1bTBrUzhNN2sgYmVuY2g%3D"

local PER_ACCOUNT = 4000

function init(args)
  action = args[1]
  tag = args[2]
  assert(tag and string.match(tag, "^%w+$"), "usage: -- import|create-ed25519 TAG (alphanumeric)")
  if action == "import" then
    short = "imp"
    params = "&PublicKeyMaterial=" .. PUBLIC_KEY
    verb = "ImportKeyPair"
  elseif action == "create-ed25519" then
    short = "ed"
    params = "&KeyType=ed25519"
    verb = "CreateKeyPair"
  else
    error("unknown action " .. tostring(action))
  end
  amz_date = os.date("!%Y%m%dT%H%M%SZ")
  day = string.sub(amz_date, 1, 8)
  counter = 0
  headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8",
    ["X-Amz-Date"] = amz_date,
  }
end

function request()
  counter = counter + 1
  local account = string.format("BW%s%sT%dA%d", tag, short, id, math.floor(counter / PER_ACCOUNT))
  headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=" .. account .. "/" .. day ..
    "/us-east-1/ec2/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=" ..
    string.rep("0", 64)
  local body = "Action=" .. verb .. "&Version=2016-11-15&KeyName=w-" .. tag .. "-" .. short ..
    "-" .. id .. "-" .. counter .. params
  return wrk.format("POST", "/", headers, body)
end
