"""The API's request parser. Its own module: `core.api` imports DRF's views, whose settings
import the parser classes named in REST_FRAMEWORK."""

import json
from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers

from core.frames import MAX_FRAME_DEPTH, finite_float, nests_deeper_than, refuse_constant


class JSONParser(parsers.JSONParser):
    """DRF's, made safe against what a body can hold. How deep the body nests is checked in one
    linear pass before the parser recurses (`core.frames.nests_deeper_than`, as for websocket
    frames: a 2 KB body 1,000 levels deep exhausted the recursion, a 500), and no number is NaN
    or an infinity (`1e999`). Integers stay as big as JSON allows, so that an id beyond 64 bits
    is a 400 naming its field. The body is at most DATA_UPLOAD_MAX_MEMORY_SIZE
    (core.middleware.ApiRequestSizeLimitMiddleware)."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            text = stream.read().decode(encoding)
            if nests_deeper_than(text, MAX_FRAME_DEPTH):
                raise ValueError(f"the body nests deeper than {MAX_FRAME_DEPTH} levels")
            return json.loads(text, parse_constant=refuse_constant, parse_float=finite_float)
        except (ValueError, LookupError) as error:  # UnicodeDecodeError is a ValueError
            raise exceptions.ParseError(f"JSON parse error - {error}.") from None
