package dev.tailor.serve;

import dev.tailor.Json;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

/**
 * Requests Jetty refuses before any route sees them (a malformed URI or header) answered in
 * OpenAI's error shape too, instead of Jetty's HTML page; server faults without their details.
 */
final class JettyErrors extends ErrorHandler {
    @Override
    protected void generateResponse(Request request, Response response, int code, String message, Throwable cause, Callback callback) {
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.write(true, ByteBuffer.wrap(body(code, message)), callback);
    }

    @Override
    public ByteBuffer badMessageError(int status, String reason, HttpFields.Mutable fields) {
        fields.put(HttpHeader.CONTENT_TYPE, "application/json");
        return ByteBuffer.wrap(body(status, reason));
    }

    private static byte[] body(int status, String reason) {
        ApiError e = status >= 500 ? ApiError.internal("jetty-" + status)
                : new ApiError(status, ApiError.INVALID_REQUEST, "The HTTP request was refused: " + (reason == null ? "status " + status : reason),
                        null, null, null);
        return Json.compact(e.toJson()).getBytes(StandardCharsets.UTF_8);
    }
}
