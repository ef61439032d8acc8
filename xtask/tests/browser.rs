//! The web client in a real browser (Debian's headless Chromium over WebDriver) against
//! `cargo xtask dev`: sign-up, three memories and the live edge, opening and editing one with a
//! conflict, a second user who sees nothing, the keyboard-only path, deletes, reload and sign-out.
//! Any console error (CSP violations included) fails the test. Screenshots go to
//! target/browser-screenshots/.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::browser::{Browser, Driver};
use support::dev::{Dev, free_port_pair, temporary_folder};

const PASSWORD: &str = "a long enough password";
const CTRL_ENTER: &str = "\u{E009}\u{E007}\u{E000}";

async fn sign_up(browser: &Browser, dev: &Dev, email: &str) {
    browser.client.goto(&dev.running.site_url).await.unwrap();
    browser.css("#signin-toggle").await.click().await.unwrap();
    browser.css("#email").await.send_keys(email).await.unwrap();
    browser.css("#password").await.send_keys(PASSWORD).await.unwrap();
    browser.css("#signin-submit").await.click().await.unwrap();
    browser.css("#composer").await;
}

async fn write(browser: &Browser, text: &str) {
    let before = browser.eval("return document.querySelectorAll('#memories li').length;").await;
    let before = before.as_u64().unwrap_or(0);
    let composer = browser.css("#composer").await;
    composer.send_keys(text).await.unwrap();
    composer.send_keys(CTRL_ENTER).await.unwrap();
    browser
        .until(
            &format!("the memory {text:?} in the list"),
            &format!("document.querySelectorAll('#memories li').length > {before}"),
        )
        .await;
}

/// Replaces the page's `fetch` so that the answers to the list's and the graph's requests are
/// held (the requests go out at once) until `window.releaseHeldAnswers()`, which also puts
/// `fetch` back: a slow network, from the page's side.
const HOLD_LOAD_ANSWERS: &str = "\
    const original = window.fetch; \
    window.heldAnswers = []; \
    window.releaseHeldAnswers = () => { window.fetch = original; window.heldAnswers.splice(0).forEach((release) => release()); }; \
    window.fetch = (input, init) => { \
        const url = typeof input === 'string' ? input : input.url; \
        const answer = original(input, init); \
        if (!/\\/api\\/(nodes\\?|graph-data)/.test(url)) return answer; \
        return answer.then((response) => new Promise((resolve) => window.heldAnswers.push(() => resolve(response)))); \
    }; \
    return true;";

fn memory_selector(text: &str) -> String {
    format!(
        "Array.from(document.querySelectorAll('#memories li')).find(li => li.textContent.includes({}))",
        json!(text)
    )
}

async fn click_in_memory(browser: &Browser, text: &str, button: &str) {
    let script = format!("const li = {}; li.querySelector('{button}').click(); return true;", memory_selector(text));
    browser.until(&format!("{button} of {text:?}"), &memory_selector(text)).await;
    browser.eval(&script).await;
}

fn session_token(value: &Value) -> String {
    let text = value.as_str().expect("a saved session");
    serde_json::from_str::<Value>(text).unwrap()["access_token"].as_str().unwrap().to_owned()
}

#[test]
fn the_web_client_works_in_a_real_browser() {
    let data = temporary_folder("browser");
    let port = free_port_pair();
    let dev = Dev::start(port, &data);
    let driver = Driver::start();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let ada = driver.browser(&data.join("profile-ada")).await;
        let started = Instant::now();
        ada.client.goto(&dev.running.site_url).await.unwrap();
        ada.css("#email").await;
        println!("first render (sign-in form) {:.0} ms after navigation", started.elapsed().as_secs_f64() * 1000.0);
        ada.assert_no_console_errors("first load").await;

        sign_up(&ada, &dev, "ada@example.com").await;
        ada.css("#empty-hint").await;
        write(&ada, "Rust lambdas deploy with cloudformation").await;
        write(&ada, "cloudformation stacks written in rust").await;
        write(&ada, "tomatoes ripen slowly in autumn").await;
        // The link is computed by connect-node and pushed over the WebSocket: no reload.
        ada.until("the pushed edge in the graph", "document.querySelector('#graph').dataset.edges === '1'").await;
        ada.until("three nodes in the graph", "document.querySelector('#graph').dataset.nodes === '3'").await;
        ada.screenshot("graph").await;
        ada.assert_no_console_errors("after three memories").await;

        // A change made on another device is shown from its WebSocket message alone: the tab
        // sends no API request for it (counted by the page's resource timing).
        let api_requests = "performance.setResourceTimingBufferSize(10000); \
            return performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/')).length;";
        let before = ada.eval(api_requests).await;
        let tomatoes = ada.eval(&format!("return {}.dataset.id;", memory_selector("tomatoes ripen"))).await;
        let token = session_token(&ada.eval("return localStorage.getItem('brain2.session');").await);
        let changed = reqwest::Client::new()
            .put(format!("{}/api/nodes/{}", dev.http_api(), tomatoes.as_str().unwrap()))
            .bearer_auth(&token)
            .header("If-Match", "1")
            .json(&json!({ "content": "tomatoes ripen slowly in autumn sun" }))
            .send()
            .await
            .unwrap();
        assert_eq!(changed.status(), 200);
        ada.until("the change from another device", &format!("{}?.textContent.includes('autumn sun')", memory_selector("tomatoes ripen"))).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(ada.eval(api_requests).await, before, "no API request for a pushed change");

        // A lost message: each of Ada's connections skips a number (its counter in the
        // emulator's ConnectionsTable raised by one), so the next change arrives after a gap.
        // The tab notices within a second and loads again (the only time it calls the API).
        let dynamodb = dev.running.aws().await.unwrap().dynamodb();
        let tables = dynamodb.list_tables().send().await.unwrap().table_names.unwrap_or_default();
        let connections = tables.iter().find(|t| t.contains("Connections")).expect("the connections table");
        let items = dynamodb.scan().table_name(connections).send().await.unwrap().items.unwrap_or_default();
        assert!(!items.is_empty(), "Ada's tab is connected");
        for item in items {
            dynamodb
                .update_item()
                .table_name(connections)
                .key("connectionId", item["connectionId"].clone())
                .update_expression("SET seq = if_not_exists(seq, :zero) + :one")
                .expression_attribute_values(":zero", aws_sdk_dynamodb::types::AttributeValue::N("0".to_owned()))
                .expression_attribute_values(":one", aws_sdk_dynamodb::types::AttributeValue::N("1".to_owned()))
                .send()
                .await
                .unwrap();
        }
        let changed = reqwest::Client::new()
            .put(format!("{}/api/nodes/{}", dev.http_api(), tomatoes.as_str().unwrap()))
            .bearer_auth(&token)
            .header("If-Match", "2")
            .json(&json!({ "content": "tomatoes ripen slowly in autumn sun and rain" }))
            .send()
            .await
            .unwrap();
        assert_eq!(changed.status(), 200);
        ada.until("the change after a lost message", &format!("{}?.textContent.includes('and rain')", memory_selector("tomatoes ripen"))).await;
        let reloaded = format!("performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/')).length > {before}");
        ada.until("a reload after the gap", &reloaded).await;

        // A load whose snapshot predates the live messages that arrive while it is in flight (a
        // slow network): the answers to the tab's next list and graph requests are held back in
        // the page; meanwhile another device deletes one memory and edits another. Both show
        // from their messages at once, and stay so once the older answers land.
        let kites = reqwest::Client::new()
            .post(format!("{}/api/nodes", dev.http_api()))
            .bearer_auth(&token)
            .json(&json!({ "content": "a passing thought about kites" }))
            .send()
            .await
            .unwrap();
        assert_eq!(kites.status(), 201);
        let kites = kites.json::<Value>().await.unwrap()["nodeId"].as_str().unwrap().to_owned();
        ada.until("a memory from another device", &format!("!!{}", memory_selector("thought about kites"))).await;
        let nodes = "return document.querySelector('#graph').dataset.nodes;";
        let shown_nodes = ada.eval(nodes).await;
        ada.eval(HOLD_LOAD_ANSWERS).await;
        ada.eval("window.dispatchEvent(new Event('online')); return true;").await;
        ada.until("the list and the graph requested, their answers held", "window.heldAnswers.length >= 2").await;
        let http = reqwest::Client::new();
        let deleted = http
            .delete(format!("{}/api/nodes/{kites}", dev.http_api()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        let edited = http
            .put(format!("{}/api/nodes/{}", dev.http_api(), tomatoes.as_str().unwrap()))
            .bearer_auth(&token)
            .header("If-Match", "3")
            .json(&json!({ "content": "tomatoes ripen slowly in autumn sun and rain, then frost" }))
            .send()
            .await
            .unwrap();
        assert_eq!(edited.status(), 200);
        ada.until("the delete, from its message", &format!("!{}", memory_selector("thought about kites"))).await;
        ada.until("the edit, from its message", &format!("{}?.textContent.includes('then frost')", memory_selector("tomatoes ripen"))).await;
        ada.eval("window.releaseHeldAnswers(); return true;").await;
        // What must not happen has no event to wait for: give the older answers time to land.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert_eq!(ada.eval("return window.heldAnswers.length;").await, json!(0), "the held answers were released");
        let holds = |script: String| format!("return !!({script});");
        let gone = ada.eval(&holds(format!("!{}", memory_selector("thought about kites")))).await;
        assert_eq!(gone, json!(true), "the deleted memory stays deleted after the older load");
        let kept = ada.eval(&holds(format!("{}?.textContent.includes('then frost')", memory_selector("tomatoes ripen")))).await;
        assert_eq!(kept, json!(true), "the edit stays after the older load");
        let count = |value: Value| value.as_str().and_then(|n| n.parse::<u64>().ok());
        assert_eq!(
            count(ada.eval(nodes).await),
            count(shown_nodes).map(|n| n - 1),
            "the graph dropped the deleted memory and the older load did not bring it back"
        );

        // Open a memory: its content, keywords and linked memory.
        click_in_memory(&ada, "Rust lambdas deploy", ".memory-text").await;
        ada.until("the side panel", "document.querySelector('#detail-content')?.textContent.includes('Rust lambdas')")
            .await;
        ada.until("one linked memory", "document.querySelectorAll('#detail-links li').length === 1").await;
        ada.screenshot("detail").await;

        // Edit it while the same memory changes elsewhere: the conflict shows the newer version.
        let token = session_token(&ada.eval("return localStorage.getItem('brain2.session');").await);
        let id = ada.eval(&format!("return {}.dataset.id;", memory_selector("Rust lambdas deploy"))).await;
        let id = id.as_str().unwrap().to_owned();
        click_in_memory(&ada, "Rust lambdas deploy", ".edit").await;
        let editor = ada.css("#edit-text").await;
        let changed = reqwest::Client::new()
            .put(format!("{}/api/nodes/{id}", dev.http_api()))
            .bearer_auth(&token)
            .header("If-Match", "1")
            .json(&json!({ "content": "Rust lambdas changed on another device" }))
            .send()
            .await
            .unwrap();
        assert_eq!(changed.status(), 200);
        // The change arrives as a live update while the editor is open. The editor says so and
        // stays the same element: typing into the one found before the push still works.
        ada.until("the note that it changed elsewhere", "document.querySelector('#changed-elsewhere') !== null").await;
        editor.send_keys(" and mine").await.unwrap();
        ada.css("#save-edit").await.click().await.unwrap();
        ada.until("the conflict", "document.querySelector('#conflict-theirs')?.textContent.includes('another device')")
            .await;
        ada.screenshot("conflict").await;
        ada.assert_console_errors_only("the conflict", &["status of 409 (Conflict)"]).await;
        ada.css("#keep-mine").await.click().await.unwrap();
        ada.until("my version kept", &memory_selector("and mine")).await;

        // Another user, in another browser, sees none of it.
        let bob = driver.browser(&data.join("profile-bob")).await;
        sign_up(&bob, &dev, "bob@example.com").await;
        bob.css("#empty-hint").await;
        bob.until("Bob's empty graph", "document.querySelector('#graph').dataset.nodes === '0'").await;
        bob.assert_no_console_errors("second user").await;

        // Keyboard only: write a memory and open it.
        ada.client.refresh().await.unwrap();
        ada.css("#composer").await;
        ada.tab_until("the composer", "el && el.id === 'composer'").await;
        ada.client.active_element().await.unwrap().send_keys("keyboard memory about tomatoes").await.unwrap();
        ada.client.active_element().await.unwrap().send_keys(CTRL_ENTER).await.unwrap();
        ada.until("the keyboard memory", &memory_selector("keyboard memory")).await;
        ada.tab_until(
            "the keyboard memory's text",
            "el && el.classList.contains('memory-text') && el.textContent.includes('keyboard memory')",
        )
        .await;
        let focus_visible = ada.eval("return getComputedStyle(document.activeElement).outlineStyle;").await;
        assert_ne!(focus_visible, json!("none"), "focus is visible");
        ada.client.active_element().await.unwrap().send_keys("\u{E007}").await.unwrap();
        ada.until(
            "the opened memory",
            "document.querySelector('#detail-content')?.textContent.includes('keyboard memory')",
        )
        .await;

        // Delete one, then bulk-delete two: the list and the graph follow.
        click_in_memory(&ada, "tomatoes ripen", ".delete").await;
        ada.until("three left", "document.querySelectorAll('#memories li').length === 3").await;
        ada.until("three nodes left in the graph", "document.querySelector('#graph').dataset.nodes === '3'").await;
        click_in_memory(&ada, "keyboard memory", ".pick").await;
        click_in_memory(&ada, "cloudformation stacks", ".pick").await;
        ada.css("#bulk-delete").await.click().await.unwrap();
        ada.until("one left", "document.querySelectorAll('#memories li').length === 1").await;
        ada.until("one node left in the graph", "document.querySelector('#graph').dataset.nodes === '1'").await;
        ada.until("no edge left", "document.querySelector('#graph').dataset.edges === '0'").await;

        // An expired session that cannot be renewed returns to sign-in, and what was being typed
        // survives it.
        ada.css("#composer").await.send_keys("a draft that must not be lost").await.unwrap();
        ada.eval(
            "const s = JSON.parse(localStorage.getItem('brain2.session')); \
             s.expires_at = 1; s.refresh_token = 'revoked'; \
             localStorage.setItem('brain2.session', JSON.stringify(s)); return true;",
        )
        .await;
        ada.client.refresh().await.unwrap();
        ada.until("back at sign-in with a notice", "document.querySelector('.notice') !== null").await;
        ada.assert_console_errors_only("an expired session", &["status of 400 (Bad Request)"]).await;
        ada.css("#email").await.send_keys("ada@example.com").await.unwrap();
        ada.css("#password").await.send_keys(PASSWORD).await.unwrap();
        ada.css("#signin-submit").await.click().await.unwrap();
        ada.until("the draft restored", "document.querySelector('#composer')?.value === 'a draft that must not be lost'").await;

        // A reload keeps the session; signing out ends it, and a reload stays signed out.
        ada.client.refresh().await.unwrap();
        ada.css("#composer").await;
        ada.screenshot("list").await;
        // Narrow screens: the same page at 360 px wide, everything in one column.
        ada.client.set_window_size(360, 740).await.unwrap();
        ada.until("one column", "document.querySelector('.layout').getBoundingClientRect().width <= 360").await;
        let overflow = ada.eval("return document.documentElement.scrollWidth - document.documentElement.clientWidth;").await;
        let wide = ada
            .eval(
                "return Array.from(document.querySelectorAll('body *')).filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).map((e) => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 12);",
            )
            .await;
        assert!(overflow.as_i64().unwrap_or(0) <= 0, "nothing scrolls sideways at 360 px: {overflow}; too wide: {wide}");
        ada.screenshot("narrow").await;
        ada.client.set_window_size(1280, 900).await.unwrap();
        ada.css("#sign-out").await.click().await.unwrap();
        ada.css("#email").await;
        ada.client.refresh().await.unwrap();
        ada.css("#email").await;
        ada.assert_no_console_errors("the end").await;
        let _ = tokio::time::timeout(Duration::from_secs(5), bob.client.clone().close()).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), ada.client.clone().close()).await;
    });
    drop(driver);
    drop(dev);
    let _ = std::fs::remove_dir_all(&data);
}
