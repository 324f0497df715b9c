use super::*;

const FIVE_MIN: i64 = 300_000;

fn symbols() -> Vec<String> {
    vec!["BTCUSDT".to_string(), "ETHUSDT".to_string()]
}

fn kline(symbol: &str, open: i64, closed: bool, low: &str) -> String {
    format!(
        r#"{{"stream":"{}@kline_5m","data":{{"e":"kline","E":{},"s":"{symbol}","k":{{"t":{open},"T":{},"s":"{symbol}","i":"5m","f":1,"L":2,"o":"62000.5","c":"62010.0","h":"62050.0","l":"{low}","v":"10.5","n":120,"x":{closed},"q":"651000.0","V":"4.2","Q":"260000.0","B":"0"}}}}}}"#,
        symbol.to_lowercase(),
        open + 1000,
        open + FIVE_MIN - 1
    )
}

#[test]
fn a_closed_kline_of_the_combined_stream_becomes_a_candle() {
    let text = kline("BTCUSDT", 1_781_448_900_000, true, "61990.0");
    let StreamMessage::Kline { symbol, candle, closed } = parse_stream_message(&text, &symbols(), FIVE_MIN).unwrap() else {
        panic!("not a kline")
    };
    assert_eq!((symbol.as_str(), closed), ("BTCUSDT", true));
    assert_eq!(candle.open_time_ms, 1_781_448_900_000);
    assert_eq!((candle.open, candle.high, candle.low, candle.close), (62000.5, 62050.0, 61990.0, 62010.0));
    assert_eq!((candle.volume, candle.quote_volume, candle.taker_buy_volume, candle.trade_count), (Some(10.5), Some(651000.0), Some(4.2), Some(120)));
}

#[test]
fn an_unclosed_kline_is_parsed_but_marked_open() {
    let text = kline("ETHUSDT", 1_781_448_900_000, false, "61990.0");
    assert_eq!(parse_stream_message(&text, &symbols(), FIVE_MIN).unwrap().kind(), "kline_open");
}

#[test]
fn force_order_sell_is_a_liquidated_long_with_filled_notional() {
    let text = r#"{"stream":"btcusdt@forceOrder","data":{"e":"forceOrder","E":1781448901000,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.014","p":"9910","ap":"9920","X":"FILLED","l":"0.014","z":"0.014","T":1781448900999}}}"#;
    let StreamMessage::ForceOrder(l) = parse_stream_message(text, &symbols(), FIVE_MIN).unwrap() else { panic!("not a liquidation") };
    assert_eq!((l.side, l.time_ms, l.price, l.quantity), (LiquidatedSide::Long, 1_781_448_900_999, 9920.0, 0.014));
    assert!((l.notional_usd - 138.88).abs() < 1e-9);
    let buy = text.replace("\"SELL\"", "\"BUY\"");
    let StreamMessage::ForceOrder(l) = parse_stream_message(&buy, &symbols(), FIVE_MIN).unwrap() else { panic!() };
    assert_eq!(l.side, LiquidatedSide::Short);
}

#[test]
fn bad_messages_are_rejected_with_their_reason() {
    let reason = |text: &str| parse_stream_message(text, &symbols(), FIVE_MIN).unwrap_err().reason;
    assert_eq!(reason("{not json"), RejectReason::MalformedJson);
    assert_eq!(reason(r#"{"result":null,"id":1}"#), RejectReason::UnknownShape);
    assert_eq!(reason(r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade"}}"#), RejectReason::UnknownStream);
    assert_eq!(reason(&kline("DOGEUSDT", 1_781_448_900_000, true, "61990.0")), RejectReason::UnsupportedSymbol);
    assert_eq!(reason(&kline("BTCUSDT", 1_781_448_900_000, true, "cheap")), RejectReason::NotNumeric);
    assert_eq!(reason(&kline("BTCUSDT", 1_781_448_900_000, true, "-5")), RejectReason::InvalidBar);
    assert_eq!(reason(&kline("BTCUSDT", 1_781_448_900_000, true, "62060.0")), RejectReason::InvalidBar, "low above high");
    assert_eq!(reason(&kline("BTCUSDT", 1_781_448_960_000, true, "61990.0")), RejectReason::WrongInterval, "off the 5m grid");
    let negative_price = r#"{"stream":"btcusdt@forceOrder","data":{"e":"forceOrder","o":{"s":"BTCUSDT","S":"SELL","q":"1","p":"-3","T":1}}}"#;
    assert_eq!(reason(negative_price), RejectReason::InvalidLiquidation);
    let big = format!(r#"{{"stream":"x","data":{{"pad":"{}"}}}}"#, "a".repeat(MESSAGE_BYTES_MAX));
    assert_eq!(reason(&big), RejectReason::Oversized);
}

#[test]
fn rest_klines_leave_out_the_bar_still_open() {
    let t = 1_781_448_600_000;
    let body = format!(
        r#"[[{t},"62000","62100","61900","62050","12.0",{},"744000.0",100,"6.0","372000.0","0"],
            [{},"62050","62080","62000","62010","3.0",{},"186090.0",40,"1.0","62000.0","0"]]"#,
        t + FIVE_MIN - 1,
        t + FIVE_MIN,
        t + 2 * FIVE_MIN - 1
    );
    let (candles, rejected) = parse_rest_klines(&body, FIVE_MIN, t + FIVE_MIN + 10_000).unwrap();
    assert!(rejected.is_empty());
    assert_eq!(candles.len(), 1, "the second bar closes after now");
    assert_eq!(candles[0].open_time_ms, t);
}

#[test]
fn open_interest_hist_reads_the_usd_value_with_string_or_number_timestamps() {
    let body = r#"[{"symbol":"BTCUSDT","sumOpenInterest":"100000.5","sumOpenInterestValue":"6200000000.25","timestamp":"1781448600000"},
                   {"symbol":"BTCUSDT","sumOpenInterest":"100001.0","sumOpenInterestValue":"6200100000","timestamp":1781448900000},
                   {"symbol":"BTCUSDT","sumOpenInterest":"1","sumOpenInterestValue":"lots","timestamp":1781449200000}]"#;
    let (points, rejected) = parse_open_interest_hist(body, "BTCUSDT").unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!((points[0].time_ms, points[0].value_usd, points[0].contracts), (1_781_448_600_000, Some(6_200_000_000.25), Some(100_000.5)));
    assert_eq!(points[1].time_ms, 1_781_448_900_000);
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].reason, RejectReason::NotNumeric);
}
