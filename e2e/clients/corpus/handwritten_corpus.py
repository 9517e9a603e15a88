"""Writes the Java and Ruby parts of the grouping corpus.

No Java or Ruby SDK runs here, so these events are written by hand in the
shapes sentry-java (io.sentry 7.x: SentryStackTraceFactory, the logback
integration) and sentry-ruby (5.x: Sentry::Backtrace, StacktraceInterface)
send. Each pair differs only in what must not split an issue: line
numbers, generated class and lambda names, ERB method suffixes, values.

Usage: python3 handwritten_corpus.py OUTDIR
"""
import json
import os
import sys

SDK_JAVA = {"name": "sentry.java.spring-boot.jakarta", "version": "7.14.0",
            "packages": [{"name": "maven:io.sentry:sentry-spring-boot-starter-jakarta", "version": "7.14.0"}]}
SDK_RUBY = {"name": "sentry.ruby.rails", "version": "5.17.3",
            "packages": [{"name": "sentry-ruby", "version": "5.17.3"}, {"name": "sentry-rails", "version": "5.17.3"}]}


def jframe(module, function, filename, lineno, in_app):
    return {"module": module, "function": function, "filename": filename, "lineno": lineno,
            "in_app": in_app, "native": False}


JAVA_BASE = [
    jframe("java.lang.Thread", "run", "Thread.java", 1583, False),
    jframe("org.apache.tomcat.util.threads.ThreadPoolExecutor$Worker", "run", "ThreadPoolExecutor.java", 659, False),
    jframe("org.springframework.web.servlet.FrameworkServlet", "service", "FrameworkServlet.java", 885, False),
    jframe("jdk.internal.reflect.GeneratedMethodAccessor87", "invoke", None, None, False),
    jframe("java.lang.reflect.Method", "invoke", "Method.java", 580, False),
]


def java_event(n, exceptions=None, message=None, logger=None, level="error", extra=None):
    e = {
        "event_id": "%032x" % (0x1A000 + n), "timestamp": "2026-11-20T10:%02d:00.000Z" % n,
        "platform": "java", "level": level, "release": "orders@1.8.0", "environment": "production",
        "server_name": "orders-7f9c", "sdk": SDK_JAVA,
        "contexts": {"runtime": {"name": "OpenJDK Runtime Environment", "version": "21.0.2"}},
        "user": {"id": "user-42"},
    }
    if exceptions:
        e["exception"] = {"values": exceptions}
    if message:
        e["message"] = message
    if logger:
        e["logger"] = logger
    return e


def jex(type_, module, value, frames, handled=True):
    return {"type": type_, "module": module, "value": value, "thread_id": 71,
            "mechanism": {"type": "HandlerExceptionResolver", "handled": handled},
            "stacktrace": {"frames": JAVA_BASE + frames}}


def java_events():
    out = []
    # 1. The same NullPointerException after code moved: only line numbers differ.
    for i, (l1, l2) in enumerate([(42, 88), (47, 93)]):
        out.append(("npe#%d" % i, "npe", java_event(i, [jex(
            "NullPointerException", "java.lang",
            'Cannot invoke "com.example.orders.Customer.getEmail()" because "customer" is null', [
                jframe("com.example.orders.OrderController", "create", "OrderController.java", l1, True),
                jframe("com.example.orders.OrderService", "process", "OrderService.java", l2, True),
            ])])))
    # 2. A lambda: the JVM numbers generated classes and lambda bodies per run.
    for i, (cls, body) in enumerate([("$$Lambda$123/0x0000000800c4b440", "lambda$process$0"),
                                     ("$$Lambda$457/0x00000008012a7c40", "lambda$process$3")]):
        out.append(("lambda#%d" % i, "lambda", java_event(10 + i, [jex(
            "IllegalArgumentException", "java.lang", "quantity must be positive: -%d" % (i + 2), [
                jframe("com.example.orders.OrderService", "process", "OrderService.java", 61, True),
                jframe("java.util.ArrayList", "forEach", "ArrayList.java", 1596, False),
                jframe("com.example.orders.OrderService" + cls, "accept", None, None, True),
                jframe("com.example.orders.OrderService", body, "OrderService.java", 64, True),
                jframe("com.example.orders.Line", "validate", "Line.java", 23, True),
            ])])))
    # 3. A Spring CGLIB proxy: the class name carries a per-build hash.
    for i, h in enumerate(["a1b2c3d4", "9e8d7c6b"]):
        out.append(("cglib#%d" % i, "cglib", java_event(20 + i, [jex(
            "AccessDeniedException", "org.springframework.security.access", "Access Denied", [
                jframe("com.example.web.UserController$$EnhancerBySpringCGLIB$$" + h, "show", None, None, True),
                jframe("com.example.web.UserController", "show", "UserController.java", 33, True),
                jframe("org.springframework.security.authorization.method.AuthorizationManagerBeforeMethodInterceptor",
                       "attemptAuthorization", "AuthorizationManagerBeforeMethodInterceptor.java", 257, False),
            ])])))
    # 4. A chain: the cause first, as sentry-java sends it.
    for i, order in enumerate([17, 23]):
        cause = jex("SocketException", "java.net", "Connection reset", [
            jframe("com.example.orders.InventoryClient", "reserve", "InventoryClient.java", 52, True),
            jframe("java.net.SocketInputStream", "read", "SocketInputStream.java", 186, False)])
        cause["mechanism"] = {"type": "chained", "handled": True, "exception_id": 1, "parent_id": 0}
        main = jex("IllegalStateException", "java.lang", "could not reserve stock for order %d" % order, [
            jframe("com.example.orders.OrderController", "create", "OrderController.java", 42, True),
            jframe("com.example.orders.OrderService", "reserve", "OrderService.java", 120, True)])
        main["mechanism"]["exception_id"] = 0
        out.append(("chained#%d" % i, "chained", java_event(30 + i, [cause, main])))
    # 5. A logback error without exception: grouped by its template.
    for i, order in enumerate(["17", "23"]):
        out.append(("logback#%d" % i, "logback-order", java_event(40 + i, message={
            "message": "Failed to process order {}", "formatted": "Failed to process order %s" % order,
            "params": [order]}, logger="com.example.orders.OrderService")))
    return out


def rframe(filename, function, lineno, in_app, ctx, gem=None):
    root = "/usr/local/bundle/gems/%s" % gem if gem else "/srv/app"
    f = {"project_root": "/srv/app", "abs_path": root + "/" + filename, "function": function,
         "lineno": lineno, "in_app": in_app, "filename": filename}
    if ctx:
        f["pre_context"] = ["", "  def %s" % function.split(" ")[-1], ""]
        f["context_line"] = ctx
        f["post_context"] = ["  end", "", "end"]
    return f


RUBY_BASE = [
    rframe("lib/puma/thread_pool.rb", "block in spawn_thread", 155, False, None, "puma-6.4.2"),
    rframe("lib/action_controller/metal/basic_implicit_render.rb", "send_action", 6, False, None, "actionpack-7.1.3"),
]


def ruby_event(n, exceptions=None, message=None, level="error"):
    e = {
        "event_id": "%032x" % (0x2B000 + n), "timestamp": 1795000000 + n * 60, "platform": "ruby",
        "level": level, "release": "storefront@4.2.0", "environment": "production",
        "server_name": "web-3", "sdk": SDK_RUBY, "transaction": "UsersController#show",
        "contexts": {"runtime": {"name": "ruby", "version": "ruby 3.3.0"}},
        "request": {"url": "https://shop.example.com/users/%d" % (100 + n), "method": "GET",
                    "headers": {"Cookie": "_session=abc%d" % n, "Authorization": "Bearer tok%d" % n}},
    }
    if exceptions:
        e["exception"] = {"values": exceptions}
    if message:
        e["message"] = message
        del e["transaction"]
    return e


def rex(type_, value, frames):
    return {"type": type_, "value": value, "module": type_.rsplit("::", 1)[0] if "::" in type_ else "",
            "thread_id": 8, "mechanism": {"type": "rails", "handled": False},
            "stacktrace": {"frames": RUBY_BASE + frames}}


def ruby_events():
    out = []
    for i, (oid, line) in enumerate([("0x00007f3a", 14), ("0x00007f9c", 17)]):
        out.append(("nomethod#%d" % i, "nomethod", ruby_event(i, [rex(
            "NoMethodError", "undefined method `name' for nil:NilClass (%s)" % oid, [
                rframe("app/controllers/users_controller.rb", "show", line, True, "    @name = @user.profile.name"),
            ])])))
    for i, line in enumerate([31, 38]):
        out.append(("block#%d" % i, "block", ruby_event(10 + i, [rex(
            "ArgumentError", "invalid quantity %d" % (i - 5), [
                rframe("app/workers/import_worker.rb", "perform", line - 4, True, "    rows.each do |row|"),
                rframe("app/workers/import_worker.rb", "block (2 levels) in perform", line, True,
                       "        raise ArgumentError, \"invalid quantity #{q}\" if q.negative?"),
            ])])))
    for i, suffix in enumerate(["__1234567890_70312345678900", "__4455667788_70398765432100"]):
        out.append(("erb#%d" % i, "erb", ruby_event(20 + i, [rex(
            "ActionView::Template::Error", "undefined local variable or method `total' for #<ActionView::Base:0x000055d1%04x>" % i, [
                rframe("app/views/orders/show.html.erb", "_app_views_orders_show_html_erb" + suffix, 12, True,
                       "<%= number_to_currency(total) %>"),
            ])])))
    for i, uid in enumerate([17, 23]):
        out.append(("not-found#%d" % i, "record-not-found", ruby_event(30 + i, [rex(
            "ActiveRecord::RecordNotFound", "Couldn't find User with 'id'=%d" % uid, [
                rframe("lib/active_record/core.rb", "find", 266, False, None, "activerecord-7.1.3"),
                rframe("app/controllers/users_controller.rb", "set_user", 40, True, "    @user = User.find(params[:id])"),
            ])])))
    for i, hook in enumerate([4711, 4712]):
        out.append(("message#%d" % i, "webhook-ignored", ruby_event(40 + i, message="Payment webhook %d ignored" % hook,
                                                                     level="warning")))
    return out


def write(path, platform, events):
    with open(path, "w") as f:
        for label, group, event in events:
            f.write(json.dumps({"label": label, "group": platform + "/" + group, "event": event}) + "\n")


if __name__ == "__main__":
    out = sys.argv[1]
    write(os.path.join(out, "java.jsonl"), "java", java_events())
    write(os.path.join(out, "ruby.jsonl"), "ruby", ruby_events())
