"""The links subscribers click: open pixel, view in browser, click redirect, unsubscribe."""
