// A minimal libcurl client for tests that talk to a real HTTP server.
#pragma once

#include <functional>
#include <string>
#include <vector>

struct HttpResponse {
  long status = 0;  // 0: no response (connection failed)
  std::string body;
};

// `headers` are "Name: value" lines. `on_data` (optional) sees each received
// piece as it arrives (streaming tests).
HttpResponse HttpRequest(const std::string& method, const std::string& url, const std::string& body = "",
                         const std::vector<std::string>& headers = {},
                         const std::function<void(const std::string&)>& on_data = nullptr,
                         long timeout_s = 120);

// The JSON payloads of "data: ..." lines of a server-sent-events body.
std::vector<std::string> SseData(const std::string& body);
