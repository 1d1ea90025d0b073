-- bench/tools/pipeline.lua — HTTP/1.1 pipelining for wrk, as TechEmpower's
-- plaintext test does it: every write sends DEPTH copies of the request, and
-- wrk counts each response. Usage: wrk ... -s pipeline.lua URL -- DEPTH
init = function(args)
    local depth = tonumber(args[1]) or 1
    local r = {}
    for i = 1, depth do
        r[i] = wrk.format()
    end
    req = table.concat(r)
end

request = function()
    return req
end
