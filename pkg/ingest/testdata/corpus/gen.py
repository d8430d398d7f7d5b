# Writes segment.jsonl, the corpus TestSegmentCorpus decodes: every Segment
# e-commerce v2 event in the shapes of analytics.js, the iOS, Android and
# server libraries (Node, Python, Ruby, Go, Java), with all, none and all but
# one of its properties, and oddly typed ones. Deterministic: python3 gen.py.
import json, uuid, random
random.seed(27)
def uid(): return str(uuid.UUID(int=random.getrandbits(128)))
P = {"product_id":"507f1f77bcf86cd799439011","sku":"G-32","category":"Games","name":"Monopoly: 3rd Edition","brand":"Hasbro","variant":"200 pieces","price":18.99,"quantity":1,"coupon":"MAYDEALS","position":3,"url":"https://www.example.com/product/path","image_url":"https://www.example.com/product/path.jpg","currency":"USD"}
P2 = {"product_id":"505bd76785ebb509fc183733","sku":"46493-32","category":"Games","name":"Uno Card Game","price":3,"quantity":2}
ORDER = {"order_id":"50314b8e9bcf000000000000","checkout_id":"fksdjfsdjfisjf9sdfjsd9f","affiliation":"Google Store","total":27.50,"subtotal":22.50,"revenue":25.00,"shipping":3,"tax":2,"discount":2.5,"coupon":"hasbros","currency":"USD","products":[P,P2]}
full = {
 "Products Searched": {"query":"blue roses"},
 "Product List Viewed": {"list_id":"hot_deals_1","category":"Deals","products":[dict(P,position=1),dict(P2,position=2)]},
 "Product List Filtered": {"list_id":"todays_deals_may_11_2016","filters":[{"type":"department","value":"beauty"},{"type":"price","value":"under $25"}],"sorts":[{"type":"price","value":"desc"}],"products":[P]},
 "Promotion Viewed": {"promotion_id":"promo_1","creative":"top_banner_2","name":"75% store-wide shoe sale","position":"home_banner_top"},
 "Promotion Clicked": {"promotion_id":"promo_1","creative":"top_banner_2","name":"75% store-wide shoe sale","position":"home_banner_top"},
 "Product Clicked": P,
 "Product Viewed": P,
 "Product Added": dict(P,cart_id="skdjsidjsdkdj29j"),
 "Product Removed": dict(P,cart_id="skdjsidjsdkdj29j"),
 "Cart Viewed": {"cart_id":"skdjsidjsdkdj29j","products":[P,P2]},
 "Checkout Started": dict(ORDER,cart_id="skdjsidjsdkdj29j",value=30),
 "Checkout Step Viewed": {"checkout_id":"50314b8e9bcf000000000000","step":2,"shipping_method":"Fedex","payment_method":"Visa"},
 "Checkout Step Completed": {"checkout_id":"50314b8e9bcf000000000000","step":2,"shipping_method":"Fedex","payment_method":"Visa"},
 "Payment Info Entered": {"checkout_id":"39f39fj39f3jf93fj9fj39fj3f","order_id":"dkfsjidfjsdifsdfksdjfkdsfjsdfkdsf","step":4,"payment_method":"Visa"},
 "Order Updated": ORDER,
 "Order Completed": dict(ORDER,cart_id="skdjsidjsdkdj29j"),
 "Order Refunded": {"order_id":"50314b8e9bcf000000000000","total":30,"currency":"USD","products":[P]},
 "Order Cancelled": ORDER,
 "Coupon Entered": {"order_id":"50314b8e9bcf000000000000","cart_id":"923923929jd29jd92dj9j93fj3","coupon_id":"may_deals_2016"},
 "Coupon Applied": {"order_id":"50314b8e9bcf000000000000","cart_id":"923923929jd29jd92dj9j93fj3","coupon_id":"may_deals_2016","coupon_name":"May Deals 2016","discount":23.32},
 "Coupon Denied": {"order_id":"50314b8e9bcf000000000000","cart_id":"923923929jd29jd92dj9j93fj3","coupon":"may_deals_2016","reason":"Coupon expired"},
 "Coupon Removed": {"order_id":"50314b8e9bcf000000000000","cart_id":"923923929jd29jd92dj9j93fj3","coupon_id":"may_deals_2016","coupon_name":"May Deals 2016","discount":23.32},
 "Product Added to Wishlist": dict(P,wishlist_id="skdjsidjsdkdj29j",wishlist_name="Loved Games"),
 "Product Removed from Wishlist": dict(P,wishlist_id="skdjsidjsdkdj29j",wishlist_name="Loved Games"),
 "Wishlist Product Added to Cart": dict(P,wishlist_id="skdjsidjsdkdj29j",wishlist_name="Loved Games",cart_id="99j2d92j9dj29dj29d2d"),
 "Product Shared": dict(P,share_via="email",share_message="Hey, check out this item",recipient="recipient-17"),
 "Cart Shared": {"share_via":"email","share_message":"Hey, check out this item","recipient":"recipient-17","cart_id":"d92jd29jd92jd29j92d92jd","products":[{"product_id":"507f1f77bcf86cd799439011"},{"product_id":"505bd76785ebb509fc183733"}]},
 "Product Reviewed": {"product_id":"507f1f77bcf86cd799439011","review_id":"kdfjrj39fj39jf3","review_body":"I love this product","rating":5},
}
# Oddly typed, as producers send them: numbers as strings, ids as numbers,
# nulls, a price with a currency sign, products as a lone object.
odd = {
 "Product Viewed": {"product_id":12345,"category":"Games","price":"18.99","quantity":"1","position":None},
 "Product Added": {"product_id":12345,"cart_id":987,"price":"$18.99","quantity":"2"},
 "Product Removed": {"product_id":"p1","quantity":1.5},
 "Order Completed": {"order_id":50314,"total":"27.50","revenue":"25","products":[{"product_id":1,"price":"3.00","quantity":"2"},"junk"]},
 "Order Refunded": {"order_id":50314,"total":"-30"},
 "Checkout Step Viewed": {"step":"2"},
 "Product Reviewed": {"product_id":"p","rating":"4"},
 "Cart Viewed": {"cart_id":None,"products":{"product_id":"p"}},
 "Product List Viewed": {"products":"none"},
 "Promotion Viewed": {"position":1},
}
T0 = "2025-11-20T10:%02d:%02d.%03dZ"
n = [0]
def ts():
    n[0]+=1
    return T0 % (n[0]//60 % 60, n[0] % 60, n[0]*7 % 1000)
def ajs(ev, props):
    m = {"anonymousId":uid(),"context":{"library":{"name":"analytics.js","version":"next-1.70.0"},"locale":"en-US","page":{"path":"/academy/","referrer":"","search":"","title":"Analytics Academy","url":"https://segment.com/academy/"},"userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)","userAgentData":{"brands":[{"brand":"Chromium","version":"118"}],"mobile":False,"platform":"macOS"},"timezone":"Europe/Paris"},"event":ev,"integrations":{},"messageId":"ajs-next-"+uuid.UUID(int=random.getrandbits(128)).hex,"originalTimestamp":ts(),"properties":props,"receivedAt":ts(),"sentAt":ts(),"timestamp":ts(),"type":"track","userId":"user-1042","writeKey":"YOUR_WRITE_KEY","version":2,"channel":"client"}
    if props is None: del m["properties"]
    return m
def ios(ev, props):
    m = {"anonymousId":uid().upper(),"context":{"app":{"build":"1","name":"Shop","namespace":"com.example.shop","version":"1.0"},"device":{"id":uid().upper(),"manufacturer":"Apple","model":"iPhone14,2","name":"iPhone","type":"ios"},"library":{"name":"analytics-swift","version":"1.5.3"},"locale":"en-US","network":{"cellular":False,"wifi":True},"os":{"name":"iOS","version":"17.0"},"screen":{"height":844,"width":390},"timezone":"America/New_York","traits":{"anonymousId":"X"},"instanceId":uid()},"event":ev,"integrations":{},"messageId":uid().upper(),"properties":props,"timestamp":ts(),"type":"track","userId":None,"sentAt":ts()}
    if props is None: m["properties"] = {}
    return m
def android(ev, props):
    m = {"anonymousId":uid(),"context":{"app":{"build":"12","name":"Shop","namespace":"com.example.shop","version":"2.3"},"device":{"id":uid(),"manufacturer":"Google","model":"Pixel 7","name":"panther","type":"android","advertisingId":uid(),"adTrackingEnabled":True},"library":{"name":"analytics-kotlin","version":"1.14.2"},"locale":"en-US","network":{"bluetooth":False,"carrier":"T-Mobile","cellular":True,"wifi":False},"os":{"name":"Android","version":"14"},"screen":{"density":2.75,"height":2400,"width":1080},"timezone":"Europe/Berlin","traits":{"anonymousId":"x","userId":"user-7"},"userAgent":"Dalvik/2.1.0 (Linux; U; Android 14)"},"event":ev,"integrations":{},"messageId":uid(),"properties":props,"timestamp":ts(),"type":"track","userId":"user-7","_metadata":{"bundled":["Segment.io"],"unbundled":[]}}
    if props is None: del m["properties"]
    return m
def node(ev, props):
    m = {"event":ev,"properties":props,"userId":"user-42","type":"track","context":{"library":{"name":"@segment/analytics-node","version":"1.1.0"}},"_metadata":{"nodeVersion":"20.9.0","jsRuntime":"node"},"timestamp":ts(),"integrations":{},"messageId":"node-next-"+str(random.getrandbits(40))+"-"+uid()}
    if props is None: del m["properties"]
    return m
def python(ev, props):
    t = ts().replace("Z", "000+00:00")
    m = {"integrations":{},"anonymousId":None,"properties":props,"timestamp":t,"context":{"library":{"name":"analytics-python","version":"2.3.2"}},"userId":"user-99","type":"track","event":ev,"messageId":uid(),"sentAt":ts().replace("Z","000+00:00")}
    if props is None: m["properties"] = {}
    return m
def ruby(ev, props):
    m = {"context":{"library":{"name":"analytics-ruby","version":"2.4.0"}},"messageId":uid(),"timestamp":ts().replace("Z","+00:00"),"userId":"user-5","type":"track","event":ev,"properties":props or {}}
    return m
def go(ev, props):
    m = {"type":"track","messageId":uid(),"userId":"user-3","event":ev,"timestamp":"2025-11-20T10:15:04.123456789Z","context":{"library":{"name":"analytics-go","version":"3.0.0"}},"properties":props,"sentAt":"2025-11-20T10:15:05.5Z"}
    if props is None: del m["properties"]
    return m
def java(ev, props):
    m = {"context":{"library":{"name":"analytics-java","version":"3.4.0"}},"type":"track","messageId":uid(),"timestamp":ts().replace("Z","+0000"),"sentAt":ts(),"userId":"user-8","anonymousId":"anon-8","integrations":{},"event":ev}
    if props is not None: m["properties"] = props
    return m
sdks = [ajs, ios, android, node, python, ruby, go, java]
lines = []
for ev, props in full.items():
    for i, sdk in enumerate(sdks):
        lines.append(sdk(ev, props))
        lines.append(sdk(ev, None))
    # with one optional property left out at a time, from the first SDK shape
    for k in props:
        lines.append(ajs(ev, {x: v for x, v in props.items() if x != k}))
for ev, props in odd.items():
    for sdk in (ajs, ios, node):
        lines.append(sdk(ev, props))
# Other calls every SDK makes.
lines.append({"type":"page","name":"Home","properties":{"path":"/","url":"https://shop.example/"},"anonymousId":uid(),"messageId":"ajs-p1","timestamp":ts(),"context":{"library":{"name":"analytics.js","version":"next-1.70.0"}}})
lines.append({"type":"page","properties":{"path":"/"},"anonymousId":uid(),"messageId":"ajs-p2","timestamp":ts(),"name":None,"category":None})
lines.append({"type":"screen","name":"Product","properties":{"product_id":"p"},"userId":"user-7","messageId":uid(),"timestamp":ts()})
lines.append({"type":"identify","traits":{"plan":"premium"},"userId":"user-7","messageId":uid(),"timestamp":ts()})
lines.append({"type":"identify","userId":"user-8","anonymousId":"anon-8","messageId":uid(),"timestamp":ts(),"context":{"traits":{"name":"Ada"}}})
lines.append({"type":"alias","previousId":"anon-8","userId":"user-8","messageId":uid(),"timestamp":ts()})
lines.append({"type":"group","groupId":"g1","traits":{"name":"Initech"},"userId":"user-8","messageId":uid(),"timestamp":ts()})
lines.append({"type":"track","event":"Application Opened","properties":{"from_background":False,"version":"2.3","build":"12"},"userId":"user-7","messageId":uid(),"timestamp":ts()})
with open(__import__("os").path.join(__import__("os").path.dirname(__file__) or ".","segment.jsonl"),"w") as f:
    for m in lines:
        f.write(json.dumps(m, separators=(",",":"))+"\n")
print(len(lines))
